"""The SM2 / GB/T 38540 conformance cases say what our GM verifier finds, case by case."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from esign.policy import ValidationPolicy, load_trust_anchors
from esign.verify.gm import GmResult, verify_gm_pdf
from fixtures.conformance_gm import CASES, build_gm_cases
from fixtures.pki_sm2 import load


@pytest.fixture(scope="module")
def pack(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[dict[str, Any]]]:
    directory = tmp_path_factory.mktemp("gm-pack")
    return directory, build_gm_cases(directory)


def _observed(result: GmResult) -> dict[str, Any]:
    indication, sub = result.indication
    return {
        "integrity": result.integrity,
        "crypto": result.crypto,
        "signature_ok": result.integrity == "ok" and result.crypto == "ok" and not _constraint_failed(result),
        "trusted": result.chain == "trusted",
        "dss_indication": indication.value,
        "dss_subindication": sub.value if sub else None,
        "sig_count": 1,
        "overall_valid": indication.value == "TOTAL_PASSED",
    }


def _constraint_failed(result: GmResult) -> bool:
    return result.indication[1] is not None and result.indication[1].value == "SIG_CONSTRAINTS_FAILURE"


def test_manifest_entries_follow_the_external_corpus_format(pack: tuple[Path, list[dict[str, Any]]]) -> None:
    directory, entries = pack
    assert [e["file"] for e in entries] == [c.file for c in CASES]
    external_keys = {"file", "source", "test", "sig_index", "applies_to", "trust_anchors", "validation_time",
                     "expect", "evidence"}  # fmt: skip
    assert all(set(e) == external_keys for e in entries)
    assert all((directory / e["file"]).is_file() for e in entries)
    json.dumps(entries)  # serialisable as the manifest


def test_every_case_is_verified_as_its_manifest_says(pack: tuple[Path, list[dict[str, Any]]]) -> None:
    directory, entries = pack
    pki = load()
    mismatches = []
    for entry in entries:
        anchors = load_trust_anchors([directory / a for a in entry["trust_anchors"]])
        policy = ValidationPolicy.preset(trust_roots=anchors)
        pdf = (directory / entry["file"]).read_bytes()
        results = asyncio.run(verify_gm_pdf(pdf, policy, other_certs=[pki.cert("sm2-interm")]))
        observed = _observed(results[0][1])
        for name, wanted in entry["expect"].items():
            if name in observed and wanted is not None and observed[name] != wanted:
                mismatches.append((entry["file"], name, wanted, observed[name]))
    assert mismatches == []
