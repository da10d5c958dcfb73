"""esign against signed PDFs with expected outcomes from other projects' tests (../shared/corpus/external).

Upstream validators disagree with each other on some files; where we differ, the difference is listed with
its reason in fixtures/conformance_known_differences.json and docs/conformance.md. A false pass never is.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from esign.verify import conformance
from fixtures.conformance import KNOWN_DIFFERENCES

MIN_AGREEMENT = 0.9
#: below this many asserted entries one listed judgement difference already falls under 90 %, so such a
#: field must instead have no disagreement that is not a listed known difference (docs/conformance.md)
MIN_ENTRIES_FOR_RATIO = 10


@pytest.fixture(scope="module")
def external_result(shared_dir: Path) -> conformance.ConformanceResult:
    pytest.importorskip("esign.verify.pipeline", reason="esign.verify.pipeline has not landed yet")
    return conformance.run(shared_dir / "corpus" / "external", known_differences=KNOWN_DIFFERENCES)


def test_no_file_of_the_external_corpus_crashes_the_verifier(external_result) -> None:
    assert not external_result.crashes, "\n".join(external_result.summary())


def test_no_broken_or_modified_file_of_the_external_corpus_passes(external_result) -> None:
    assert [r.entry.name for r in external_result.false_passes] == []


def test_every_expectation_field_agrees_on_at_least_90_percent(external_result) -> None:
    explained = {o.field for _, o in external_result.known}
    unexplained = {o.field for _, o in external_result.unexplained}
    low = {
        field: f"{agree}/{total}"
        for field, (agree, total) in external_result.agreement().items()
        if agree < MIN_AGREEMENT * total
        and (total >= MIN_ENTRIES_FOR_RATIO or field in unexplained or field not in explained)
    }
    assert low == {}, "\n".join(external_result.summary())


def test_every_disagreement_is_a_listed_known_difference(external_result) -> None:
    unexplained = [f"{r.entry.name} {o.field}" for r, o in external_result.unexplained]
    assert unexplained == [], "\n".join(external_result.summary())
