"""CI's slice of the differential fuzz campaign (``bench/fuzz_verify.py``): no false pass, no crash.

The first 150 cases of the documented campaign (seed 13) are rebuilt from the seed and verified in
forked children exactly as the campaign does; poppler and PDFium referee every mutant that passes. A
mutant that renders differently from what its signers saw must not pass, and ``verify`` may raise
nothing but :class:`~esign.errors.EsignError`, hang or run out of memory.
"""

from __future__ import annotations

import random
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))

import fuzz_verify
from fuzz_mutators import update_content

SEED = 13
CASES = 150


@pytest.fixture(scope="module")
def samples() -> list[fuzz_verify.Sample]:
    return fuzz_verify.build_samples()


def test_a_seeded_slice_has_no_false_pass_and_no_crash(samples: list[fuzz_verify.Sample]) -> None:
    campaign = fuzz_verify.Campaign(SEED, samples, timeout=60.0, save=None)
    campaign.run(list(range(CASES)), jobs=2)
    summary = campaign.summary("tests/test_fuzz_slice.py")
    assert summary["cases"] == CASES
    assert summary["false_pass_cases"] == [], summary["false_pass_cases"]
    assert summary["crash_cases"] == [], summary["crash_cases"]
    # not vacuous: most mutants were verified, and some passed with both engines agreeing
    assert summary["mutants_verified"] > CASES * 0.8, summary["outcomes"]
    assert summary["passed_and_referee_agreed"] > 0, summary["indications"]


def test_the_slice_is_the_same_on_every_run(samples: list[fuzz_verify.Sample]) -> None:
    names, functions, weights = fuzz_verify.mutators(samples)
    plan = [fuzz_verify.case_plan(SEED, i, samples, names, weights) for i in range(CASES)]
    assert plan == [fuzz_verify.case_plan(SEED, i, samples, names, weights) for i in range(CASES)]
    sample_at, name = plan[0]
    function = functions[names.index(name)]
    first = function(random.Random(f"{SEED}:0"), samples[sample_at].data)
    assert first == function(random.Random(f"{SEED}:0"), samples[sample_at].data)


def test_the_referee_sees_a_forged_page_in_both_engines(samples: list[fuzz_verify.Sample]) -> None:
    licence = samples[0]
    forged, _ = update_content(random.Random(3), licence.data)
    seen = fuzz_verify.render(forged)
    assert fuzz_verify.referee(licence, seen, {"indication": "TOTAL_PASSED"}) == ["pdfium", "poppler"]
    unchanged = fuzz_verify.render(licence.data)
    assert fuzz_verify.referee(licence, unchanged, {"indication": "TOTAL_PASSED"}) == []
