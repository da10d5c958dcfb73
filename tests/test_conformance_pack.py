"""The conformance pack: that its files are what the manifest says, and that esign agrees with all of it.

The pack's own claims are checked with tools other than ours (pyHanko's validator on the raw signatures),
so a wrong expectation in the manifest cannot hide behind a verifier that makes the same mistake.
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from xml.etree import ElementTree as ET

import pytest
from asn1crypto import pem, x509
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.validation import validate_pdf_signature
from pyhanko.sign.validation.dss import DocumentSecurityStore

from esign.verify import conformance
from fixtures.conformance import CASES, PACK_DIR_NAME, SIGNED_AT, TRUST_ANCHOR, ensure_pack
from fixtures.conformance_gm import CASES as GM_CASES
from fixtures.conformance_gm import SM2_TRUST_ANCHOR

#: files pyHanko cannot open by design (the point of the case)
#: files stock pyHanko cannot open: truncated, encrypted, not a PDF, a damaged update, junk after %%EOF
UNREADABLE = {
    "broken/truncated.pdf",
    "other/encrypted.pdf",
    "other/not-a-pdf.pdf",
    "attack/update-with-a-damaged-xref.pdf",
    "attack/junk-after-eof.pdf",
}


@pytest.fixture(scope="session")
def pack(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Built once per session; the pdfsig cross-check finds it at the same place."""
    return ensure_pack(tmp_path_factory.getbasetemp() / PACK_DIR_NAME).parent


@pytest.fixture(scope="session")
def manifest(pack: Path) -> list[dict]:
    return json.loads((pack / "manifest.json").read_text(encoding="utf-8"))


def test_pack_has_at_least_40_pdfs_each_listed_in_the_manifest(pack: Path, manifest: list[dict]) -> None:
    pdfs = {str(p.relative_to(pack)) for p in pack.rglob("*.pdf")}
    assert len(pdfs) >= 40
    assert pdfs == {entry["file"] for entry in manifest}


def test_manifest_uses_the_external_corpus_format(manifest: list[dict], shared_dir: Path) -> None:
    external = json.loads((shared_dir / "corpus/external/manifest.json").read_text(encoding="utf-8"))
    assert {key for entry in manifest for key in entry} == {key for entry in external for key in entry}
    external_expect_keys = {key for entry in external for key in entry["expect"]}
    assert {key for entry in manifest for key in entry["expect"]} <= external_expect_keys


def test_every_entry_has_a_trust_anchor_and_a_validation_time_after_signing(
    pack: Path, manifest: list[dict]
) -> None:
    root = x509.Certificate.load(pem.unarmor((pack / TRUST_ANCHOR).read_bytes())[2])
    assert root.self_signed == "maybe"
    gm_files = {case.file for case in GM_CASES}
    for entry in manifest:
        if entry["file"] in gm_files:
            # SM2 seals: their own root; sealed with the wall clock, valid until 2030 (no validation_time)
            assert entry["trust_anchors"] == [SM2_TRUST_ANCHOR]
            continue
        assert entry["trust_anchors"] == [TRUST_ANCHOR]
        assert conformance.Entry.from_json(entry).validation_time > SIGNED_AT


def _pyhanko_signatures(pdf: bytes, root: x509.Certificate) -> list:
    from pyhanko_certvalidator import ValidationContext

    reader = PdfFileReader(io.BytesIO(pdf))
    statuses = []
    for sig in reader.embedded_regular_signatures:
        context = ValidationContext(trust_roots=[root], allow_fetching=False)
        statuses.append(validate_pdf_signature(sig, context, skip_diff=True))
    return statuses


@pytest.mark.parametrize("case", [c for c in CASES if c.file not in UNREADABLE], ids=lambda c: c.file)
def test_pyhanko_confirms_the_integrity_and_crypto_claims_of(case, pack: Path) -> None:
    root = x509.Certificate.load(pem.unarmor((pack / TRUST_ANCHOR).read_bytes())[2])
    statuses = _pyhanko_signatures((pack / case.file).read_bytes(), root)
    for sig_index, expect in case.expects.items():
        if expect["sig_count"] is not None:
            assert len(statuses) == expect["sig_count"]
        targets = statuses if sig_index is None else [statuses[sig_index]]
        for status in targets:
            if expect["integrity"] is not None:
                assert status.intact == (expect["integrity"] == "ok")
            if expect["crypto"] is not None:
                assert status.valid == (expect["crypto"] == "ok")


def test_long_term_cases_carry_revocation_data_in_a_dss(pack: Path) -> None:
    for name in (
        "valid/pades-b-lt-rsa.pdf",
        "valid/pades-b-lta-ecdsa.pdf",
        "chain/revoked-before-signing.pdf",
    ):
        dss = DocumentSecurityStore.read_dss(PdfFileReader(io.BytesIO((pack / name).read_bytes())))
        assert dss.ocsps and dss.crls, name


def _report(*signatures: dict, indication: str = "TOTAL_PASSED") -> dict:
    return {"indication": indication, "signatures": list(signatures)}


def _sig(
    integrity="ok", crypto="ok", chain="trusted", modifications="none", indication="TOTAL_PASSED", **kw
) -> dict:
    checks = {"integrity": integrity, "crypto": crypto, "chain": chain, "modifications": modifications}
    return {"kind": "signature", "checks": checks, "indication": indication, "subindication": None, **kw}


def _entry(sig_index=None, **expect) -> conformance.Entry:
    return conformance.Entry.from_json({"file": "x.pdf", "sig_index": sig_index, "expect": expect})


def test_runner_agrees_field_by_field_with_a_matching_report() -> None:
    entry = _entry(
        integrity="ok", crypto="ok", signature_ok=True, trusted=True, sig_count=1, overall_valid=True
    )
    result = conformance.compare(entry, _report(_sig()))
    assert [o.field for o in result.outcomes] == [
        "integrity",
        "crypto",
        "signature_ok",
        "trusted",
        "sig_count",
        "overall_valid",
    ]
    assert all(o.agrees for o in result.outcomes) and not result.false_pass


def test_runner_reports_each_disagreeing_field() -> None:
    entry = _entry(trusted=True, modified_after_signing=False, dss_indication="TOTAL_PASSED")
    report = _report(_sig(chain="revoked", modifications="suspicious", indication="INDETERMINATE"))
    outcomes = {o.field: o for o in conformance.compare(entry, report).outcomes}
    assert not any(o.agrees for o in outcomes.values())
    assert outcomes["dss_indication"].observed == "INDETERMINATE"


def test_expected_broken_but_reported_intact_and_unmodified_is_a_false_pass() -> None:
    entry = _entry(integrity="broken", signature_ok=False)
    assert conformance.compare(entry, _report(_sig(modifications="permitted"))).false_pass
    assert not conformance.compare(entry, _report(_sig(integrity="broken"))).false_pass


def test_sig_index_selects_one_approval_signature_skipping_document_timestamps() -> None:
    report = _report(_sig(), {"kind": "document_timestamp", "checks": {}}, _sig(crypto="failed"))
    assert conformance.compare(_entry(1, crypto="failed", sig_count=2), report).outcomes[0].agrees
    assert not conformance.compare(_entry(None, crypto="ok"), report).outcomes[0].agrees


def test_refused_file_meets_negative_expectations_only() -> None:
    refused = {"error": {"code": "NOT_A_PDF"}, "signatures": []}
    result = conformance.compare(_entry(signature_ok=False, overall_valid=False, sig_count=0), refused)
    assert all(o.agrees for o in result.outcomes)
    assert not conformance.compare(_entry(modified_after_signing=True), refused).outcomes[0].agrees


def test_no_signature_is_compared_with_the_document_indication() -> None:
    report = _report({"kind": "document_timestamp", "checks": {}}, indication="NO_SIGNATURE_FOUND")
    assert (
        conformance.compare(_entry(dss_indication="NO_SIGNATURE_FOUND", sig_count=0), report)
        .outcomes[0]
        .agrees
    )


def test_negated_dss_indication_and_minimum_valid_count() -> None:
    report = _report(_sig(indication="INDETERMINATE"), _sig(integrity="broken"))
    result = conformance.compare(_entry(dss_indication="not TOTAL_FAILED", valid_sig_count_min=1), report)
    assert all(o.agrees for o in result.outcomes)


def test_known_difference_excuses_only_its_own_field(tmp_path: Path) -> None:
    (tmp_path / "known.json").write_text(json.dumps([{"file": "x.pdf", "field": "trusted", "reason": "r"}]))
    known = conformance.load_known_differences(tmp_path / "known.json")
    report = _report(_sig(chain="untrusted", crypto="failed"))
    outcomes = {
        o.field: o for o in conformance.compare(_entry(trusted=True, crypto="ok"), report, known).outcomes
    }
    assert outcomes["trusted"].accepted and outcomes["trusted"].known_reason == "r"
    assert not outcomes["crypto"].accepted


def _synthetic_run(tmp_path: Path, outcomes: dict[str, dict | Exception]) -> conformance.ConformanceResult:
    """A two-file corpus whose 'verifier' returns (or raises) the given outcome per file."""
    entries = [{"file": name, "sig_index": None, "expect": {"signature_ok": True}} for name in outcomes]
    (tmp_path / "manifest.json").write_text(json.dumps(entries))
    for name in outcomes:
        (tmp_path / name).write_bytes(name.encode())

    def fake_verify(pdf: bytes, anchors, at) -> dict:
        outcome = outcomes[pdf.decode()]
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    return conformance.run(tmp_path, verify=fake_verify)


def test_run_counts_a_crash_and_writes_junit(tmp_path: Path) -> None:
    result = _synthetic_run(tmp_path, {"a.pdf": _report(_sig()), "b.pdf": RuntimeError("boom")})
    assert [r.entry.file for r in result.crashes] == ["b.pdf"] and not result.ok
    assert result.agreement() == {"signature_ok": (1, 2)}
    result.write_junit(tmp_path / "junit.xml")
    suite = ET.parse(tmp_path / "junit.xml").getroot()
    assert suite.get("tests") == "3" and suite.get("failures") == "2"


@pytest.fixture(scope="session")
def pack_result(pack: Path) -> conformance.ConformanceResult:
    pytest.importorskip("esign.verify.pipeline", reason="esign.verify.pipeline has not landed yet")
    return conformance.run(pack)


def test_esign_agrees_with_the_whole_pack(pack_result: conformance.ConformanceResult) -> None:
    summary = "\n".join(pack_result.summary())
    assert not pack_result.crashes, summary
    assert [r.entry.name for r in pack_result.false_passes] == [], summary
    unexplained = [f"{r.entry.name} {o.field}" for r, o in pack_result.unexplained]
    assert unexplained == [], summary


def test_shadow_replace_via_form_field_overlay_is_suspicious(
    pack_result: conformance.ConformanceResult,
) -> None:
    result = next(r for r in pack_result.entries if r.entry.file == "shadow/replace.pdf")
    assert not result.false_pass and all(o.agrees for o in result.outcomes)


def test_document_timestamp_alone_is_no_signature_found(pack_result: conformance.ConformanceResult) -> None:
    result = next(r for r in pack_result.entries if r.entry.file == "other/doc-timestamp-only.pdf")
    assert all(o.agrees for o in result.outcomes)
