"""End-to-end verdicts of esign.verify.pipeline on documents signed with the live test PKI."""

from __future__ import annotations

from pathlib import Path

import pytest
from asn1crypto import cms
from pyhanko.sign.fields import SigSeedSubFilter

from esign.errors import EsignError
from esign.findings import FindingCode
from esign.policy import ValidationPolicy
from esign.report.model import SubIndication
from esign.verify.pipeline import verify
from tests.verify_signing import blank_pdf, doc_timestamp, sign, trusted, with_crls_in_dss


@pytest.fixture(scope="module")
def plain() -> bytes:
    return blank_pdf()


@pytest.fixture(scope="module")
def signed_bb(pki, plain) -> bytes:
    return sign(plain, pki)


def _only(report):
    assert len(report.signatures) == 1
    return report.signatures[0]


def test_valid_bb_with_trusted_root_is_total_passed(pki, signed_bb):
    sig = _only(verify(signed_bb, trusted(pki)))
    assert sig.indication == "TOTAL_PASSED"
    assert sig.format == "PAdES-BASELINE-B"
    assert sig.checks.integrity == "ok" and sig.checks.crypto == "ok" and sig.checks.chain == "trusted"
    assert sig.signed_by is not None and sig.signed_by.uscc == "11330100MB1234567E"


def test_valid_bb_without_trust_is_indeterminate_no_chain(signed_bb):
    sig = _only(verify(signed_bb, ValidationPolicy.preset()))
    assert (sig.indication, sig.subindication) == ("INDETERMINATE", SubIndication.NO_CERTIFICATE_CHAIN_FOUND)
    assert sig.reliable_esignature.verdict != "reliable"


def test_bt_and_blt_levels_pass_and_are_named(pki, plain):
    bt = _only(verify(sign(plain, pki, timestamp=True), trusted(pki)))
    assert (bt.indication, bt.format) == ("TOTAL_PASSED", "PAdES-BASELINE-T")
    lt = _only(verify(sign(plain, pki, timestamp=True, embed_revocation=True), trusted(pki, "strict")))
    assert (lt.indication, lt.format) == ("TOTAL_PASSED", "PAdES-BASELINE-LT")
    assert lt.reliable_esignature.verdict == "reliable"


def test_strict_policy_does_not_call_bb_reliable(pki, signed_bb):
    sig = _only(verify(signed_bb, trusted(pki, "strict")))
    assert sig.reliable_esignature.conditions["sole_control"].status == "undetermined"


def test_tampered_byte_is_total_failed_hash_failure(pki, signed_bb):
    position = signed_bb.index(b"esign verify test")
    tampered = signed_bb[:position] + b"X" + signed_bb[position + 1 :]
    report = verify(tampered, trusted(pki))
    sig = _only(report)
    assert (sig.indication, sig.subindication) == ("TOTAL_FAILED", SubIndication.HASH_FAILURE)
    assert sig.checks.integrity == "broken"
    assert sig.reliable_esignature.verdict == "not_reliable"
    assert report.indication == "TOTAL_FAILED"


def _flip_signature_value(pdf: bytes) -> bytes:
    start = pdf.index(b"/Contents <") + len(b"/Contents <")
    end = pdf.index(b">", start)
    der = bytes.fromhex(pdf[start:end].decode())
    info = cms.ContentInfo.load(der)
    value = info["content"]["signer_infos"][0]["signature"].native
    flipped = bytes([value[0] ^ 0xFF]) + value[1:]
    patched = der.replace(value, flipped, 1)
    return pdf[:start] + patched.hex().encode() + pdf[end:]


def test_flipped_signature_value_is_sig_crypto_failure(pki, signed_bb):
    sig = _only(verify(_flip_signature_value(signed_bb), trusted(pki)))
    assert (sig.indication, sig.subindication) == ("TOTAL_FAILED", SubIndication.SIG_CRYPTO_FAILURE)
    assert sig.checks.crypto == "failed"


def test_revoked_certificate_with_embedded_revocation_is_revoked(pki, plain):
    signed = with_crls_in_dss(sign(plain, pki, "agency-revoked", timestamp=True), pki, "agency-revoked")
    sig = _only(verify(signed, trusted(pki)))
    assert (sig.indication, sig.subindication) == ("TOTAL_FAILED", SubIndication.REVOKED)
    assert sig.checks.chain == "revoked"


def test_expired_certificate_is_not_passed(pki, plain):
    sig = _only(verify(sign(plain, pki, "agency-expired"), trusted(pki)))
    assert sig.checks.chain == "expired"
    assert (sig.indication, sig.subindication) == ("INDETERMINATE", SubIndication.OUT_OF_BOUNDS_NO_POE)


def test_not_yet_valid_certificate_is_total_failed(pki, plain):
    sig = _only(verify(sign(plain, pki, "agency-future"), trusted(pki)))
    assert (sig.indication, sig.subindication) == ("TOTAL_FAILED", SubIndication.NOT_YET_VALID)


def test_sha1_digest_is_crypto_constraints_failure(pki, plain):
    sig = _only(verify(sign(plain, pki, md_algorithm="sha1"), trusted(pki)))
    assert (sig.indication, sig.subindication) == ("INDETERMINATE", SubIndication.CRYPTO_CONSTRAINTS_FAILURE)
    assert "WEAK_DIGEST_ALGORITHM" in sig.findings


def test_rsa_1024_is_crypto_constraints_failure(pki, plain):
    sig = _only(verify(sign(plain, pki, "agency-weak"), trusted(pki)))
    assert sig.subindication == SubIndication.CRYPTO_CONSTRAINTS_FAILURE
    assert "WEAK_KEY" in sig.findings


def test_wrong_key_usage_is_reported(pki, plain):
    sig = _only(verify(sign(plain, pki, "agency-wrong-ku"), trusted(pki)))
    assert sig.indication != "TOTAL_PASSED"
    assert "KEY_USAGE_NOT_ALLOWED" in sig.findings


def test_document_timestamp_is_enumerated_after_signature(pki, signed_bb):
    report = verify(doc_timestamp(signed_bb, pki), trusted(pki))
    assert [s.kind for s in report.signatures] == ["signature", "document_timestamp"]
    ts = report.signatures[1]
    assert ts.subfilter == "ETSI.RFC3161" and ts.checks.integrity == "ok"
    assert report.signatures[0].best_signature_time == ts.claimed_signing_time


def test_adbe_pkcs7_sha1_is_enumerated_not_dropped(pki, plain):
    signed = sign(plain, pki, subfilter=SigSeedSubFilter.ADOBE_PKCS7_DETACHED)
    patched = signed.replace(b"/adbe.pkcs7.detached", b"/adbe.pkcs7.sha1\x20\x20\x20", 1)
    report = verify(patched, trusted(pki))
    sig = _only(report)
    assert sig.subfilter == "adbe.pkcs7.sha1"
    assert sig.indication != "TOTAL_PASSED"


def test_empty_signature_field_is_reported(pki, plain):
    from io import BytesIO

    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
    from pyhanko.sign import fields

    writer = IncrementalPdfFileWriter(BytesIO(plain))
    fields.append_signature_field(writer, fields.SigFieldSpec("Empty1", box=(10, 10, 100, 60)))
    out = BytesIO()
    writer.write(out)
    report = verify(out.getvalue(), trusted(pki))
    assert report.indication == "NO_SIGNATURE_FOUND"
    assert any(f.code is FindingCode.EMPTY_SIGNATURE_FIELD and f.detail == "Empty1" for f in report.findings)


def test_contents_not_cms_is_format_failure(pki, signed_bb):
    start = signed_bb.index(b"/Contents <") + len(b"/Contents <")
    end = signed_bb.index(b">", start)
    junk = (b"ab" * ((end - start) // 2))[: end - start]
    sig = _only(verify(signed_bb[:start] + junk + signed_bb[end:], trusted(pki)))
    assert (sig.indication, sig.subindication) == ("TOTAL_FAILED", SubIndication.FORMAT_FAILURE)
    assert "CONTENTS_NOT_CMS" in sig.findings


def test_gbt38540_signature_over_another_document_is_verified_and_fails(pki, plain, shared_dir: Path):
    ses = (shared_dir / "corpus/gbt38540/SignedValueV4.dat").read_bytes()
    signed_bb = sign(plain, pki, reserve=2 * len(ses) + 1024)
    start = signed_bb.index(b"/Contents <") + len(b"/Contents <")
    end = signed_bb.index(b">", start)
    hexed = ses.hex().encode()
    assert len(hexed) <= end - start
    forged = signed_bb[:start] + hexed + b"0" * (end - start - len(hexed)) + signed_bb[end:]
    sig = _only(verify(forged, trusted(pki)))
    assert (sig.kind, sig.format) == ("signature", "GBT38540-v4")
    assert sig.checks.integrity == "broken"
    assert sig.indication == "TOTAL_FAILED"


def test_unsigned_document_is_no_signature_found(pki, plain):
    report = verify(plain, trusted(pki))
    assert report.indication == "NO_SIGNATURE_FOUND" and report.signatures == ()
    assert report.findings[0].code is FindingCode.NO_SIGNATURE_FOUND


@pytest.mark.parametrize(
    ("make", "code"),
    [
        (lambda pdf: b"GIF89a not a pdf", "NOT_A_PDF"),
        (lambda pdf: pdf[: len(pdf) // 3], "PDF_TRUNCATED"),
        (lambda pdf: b"%PDF-1.7\n" + b"\x00garbage" * 50 + b"\n%%EOF\n", "PDF_CORRUPT"),
    ],
)
def test_unusable_input_is_a_typed_error(plain, make, code):
    with pytest.raises(EsignError) as caught:
        verify(make(plain))
    assert caught.value.code.name == code


def test_oversized_input_is_refused(plain):
    from esign.policy import Limits

    policy = ValidationPolicy.preset(limits=Limits(max_file_size=100))
    with pytest.raises(EsignError) as caught:
        verify(plain, policy)
    assert caught.value.code.name == "PDF_TOO_LARGE"


def test_json_shape_has_the_documented_keys(pki, signed_bb):
    data = verify(signed_bb, trusted(pki)).to_dict()
    assert data["schema_version"] == 1
    assert set(data["document"]) == {"name", "sha256", "size", "pages", "revisions"}
    sig = data["signatures"][0]
    for key in (
        "index",
        "field",
        "kind",
        "subfilter",
        "format",
        "signed_by",
        "claimed_signing_time",
        "best_signature_time",
        "indication",
        "subindication",
        "checks",
        "reliable_esignature",
        "findings",
    ):
        assert key in sig
    assert set(sig["checks"]) == {"integrity", "crypto", "chain", "coverage", "modifications"}
    assert set(sig["reliable_esignature"]["conditions"]) == {
        "exclusive_to_signer",
        "sole_control",
        "signature_change_detectable",
        "content_change_detectable",
    }
    finding = data["findings"][0]
    assert set(finding) >= {"code", "severity", "signature", "message", "remedy"}
    assert set(finding["message"]) == {"zh", "en"}
