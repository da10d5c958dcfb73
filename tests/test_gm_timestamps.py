"""Timestamps in Chinese signatures are judged whole: imprint, TSA signature, TSA chain and timeStamping EKU.

Before issue 14 a token was accepted on its message imprint alone, so anyone could forge one; these
tests put forged and misissued tokens into SES signatures, v5 seals and SM2 CMS signatures.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from datetime import UTC, datetime
from io import BytesIO

import pytest
from asn1crypto import cms, core
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.signers import PdfTimeStamper
from pyhanko.sign.validation.dss import DocumentSecurityStore

from esign.findings import FindingCode
from esign.gm import certs, oids, ses, ses_make, sm2
from esign.gm.checks import Check
from esign.gm.cms_signer import SM2Signer
from esign.gm.cms_verify import verify_sm2_cms
from esign.gm.ses_verify import SesVerification, verify_ses_signature
from esign.policy import ValidationPolicy
from esign.seal.gm import seal_ses, seal_sm2_cms
from esign.verify.pipeline import verify
from fixtures.pki_sm2 import SM2TestPKI, load
from fixtures.tsa_sm2 import SM2TimeStamper, sm2_token
from tests.gm_openssl import contents_der
from tests.keystore_fixtures import small_pdf

DOCUMENT = b"the bytes covered by the ByteRange"
SIGNED_AT = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)


@pytest.fixture(scope="module")
def pki() -> SM2TestPKI:
    return load()


def _context(pki: SM2TestPKI):  # type: ignore[no-untyped-def]
    return certs.validation_context([pki.root], other_certs=[pki.cert("sm2-interm")], crls=pki.crls)


def _forged(token: bytes) -> bytes:
    """The token with a garbage SignerInfo signature and no certificates: the imprint is still right."""
    info = cms.ContentInfo.load(token)
    signed_data = info["content"]
    signed_data["signer_infos"][0]["signature"] = b"\x30\x06\x02\x01\x01\x02\x01\x01"
    del signed_data["certificates"]
    return info.dump(force=True)


def _ses(pki: SM2TestPKI, stamp: Callable[[bytes], bytes] | None = None, tbs_version: int = 4) -> bytes:
    """A seal signature; ``stamp`` turns its signature value into the token it carries."""
    signature = ses_make.make_signature(
        pki.seal(), sm2.sm3(DOCUMENT), "ByteRange=[0 1 2 3]", pki.key("sm2-agency-a"),
        pki.cert("sm2-agency-a"), signing_time=SIGNED_AT,
    )  # fmt: skip
    if tbs_version != 4:
        tbs = signature["to_sign"]
        tbs["version"] = tbs_version
        signature["signature"] = sm2.sign(pki.key("sm2-agency-a"), tbs.dump(force=True))
    if stamp is not None:
        signature["time_stamp"] = core.OctetBitString(stamp(signature["signature"].native))
    return signature.dump(force=True)


def _verify(pki: SM2TestPKI, der: bytes) -> SesVerification:
    return asyncio.run(verify_ses_signature(der, _context(pki), DOCUMENT))


def test_genuine_sm2_timestamp_on_a_seal_signature_passes(pki: SM2TestPKI) -> None:
    result = _verify(pki, _ses(pki, lambda value: sm2_token(pki, value)))
    assert result.valid and result.findings == []
    assert "esign SM2 测试时间戳服务" in result.result(Check.TIMESTAMP).detail


@pytest.mark.parametrize(
    ("make", "finding"),
    [
        (lambda pki, value: _forged(sm2_token(pki, value)), FindingCode.TIMESTAMP_INVALID),
        (lambda pki, value: sm2_token(pki, value, signer="sm2-agency-b"), FindingCode.TIMESTAMP_INVALID),
        (
            lambda pki, value: sm2_token(pki, value, signer="sm2-rogue-signer"),
            FindingCode.TIMESTAMP_UNTRUSTED,
        ),
        (lambda pki, value: sm2_token(pki, value + b"x"), FindingCode.TIMESTAMP_INVALID),
    ],
    ids=["forged-signature-no-cert", "no-timestamping-eku", "untrusted-tsa", "wrong-imprint"],
)
def test_bad_timestamp_on_a_seal_signature_fails(pki: SM2TestPKI, make, finding: FindingCode) -> None:  # type: ignore[no-untyped-def]
    result = _verify(pki, _ses(pki, lambda value: make(pki, value)))
    assert result.result(Check.TIMESTAMP).passed is False
    assert result.findings == [finding]


def test_tbs_sign_version_must_be_the_seals_version(pki: SM2TestPKI) -> None:
    result = _verify(pki, _ses(pki, tbs_version=5))
    assert result.result(Check.STRUCTURE).passed is False
    assert FindingCode.SES_STRUCTURE_INVALID in result.findings


def _v5_seal(pki: SM2TestPKI) -> ses.SESeal:
    seal = ses.SESeal.load(pki.seal().dump())
    seal["e_seal_info"]["header"]["version"] = 5
    seal["signed_value"] = sm2.sign(pki.key("sm2-maker"), seal["e_seal_info"].dump(force=True))
    return ses.SESeal.load(seal.dump(force=True))


def _v5_signature(pki: SM2TestPKI, seal: ses.SESeal, seal_token: bytes | None) -> bytes:
    """A version-5 signature around ``seal``, which carries ``seal_token`` as its own timestamp."""
    seal = ses.SESeal.load(seal.dump())
    if seal_token is not None:
        seal["time_stamp"] = core.OctetBitString(seal_token)
    tbs = ses.TBSSign({"version": 5, "eseal": ses.SESeal.load(seal.dump(force=True)), "time_info": SIGNED_AT,
                       "data_hash": sm2.sm3(DOCUMENT), "property_info": "ByteRange=[0 1 2 3]"})  # fmt: skip
    signature = ses.SESSignature(
        {"to_sign": tbs, "cert": pki.cert("sm2-agency-a").dump(), "signature_algorithm": oids.SM2_WITH_SM3,
         "signature": sm2.sign(pki.key("sm2-agency-a"), tbs.dump())}
    )  # fmt: skip
    return signature.dump()


def test_a_v5_seals_own_timestamp_is_checked(pki: SM2TestPKI) -> None:
    seal = _v5_seal(pki)
    maker_value = seal["signed_value"].native
    untimed = _verify(pki, _v5_signature(pki, seal, None))
    assert untimed.format == "GBT38540-v5" and untimed.valid
    assert untimed.result(Check.SEAL_TIMESTAMP).passed is None
    good = _verify(pki, _v5_signature(pki, seal, sm2_token(pki, maker_value)))
    assert good.valid and good.result(Check.SEAL_TIMESTAMP).passed is True
    forged = _verify(pki, _v5_signature(pki, seal, _forged(sm2_token(pki, maker_value))))
    assert forged.result(Check.SEAL_TIMESTAMP).passed is False
    assert forged.findings == [FindingCode.TIMESTAMP_INVALID]


def _with_timestamp_attribute(sealed: bytes, token: bytes) -> cms.SignedData:
    """The seal's SignedData with ``token`` as its signature timestamp (changed in place, not re-encoded)."""
    signed_data = cms.ContentInfo.load(contents_der(sealed))["content"]
    signed_data["signer_infos"][0]["unsigned_attrs"] = [
        {"type": "signature_time_stamp_token", "values": [cms.ContentInfo.load(token)]}
    ]
    return signed_data


def test_sm2_cms_signature_timestamp_is_checked_whole(pki: SM2TestPKI) -> None:
    signer = SM2Signer(pki.key("sm2-agency-a"), pki.cert("sm2-agency-a"), pki.chain("sm2-agency-a")[1:])
    sealed = seal_sm2_cms(small_pdf(), signer)
    value = cms.ContentInfo.load(contents_der(sealed))["content"]["signer_infos"][0]["signature"].native

    def timestamp_check(token: bytes):  # type: ignore[no-untyped-def]
        result = asyncio.run(verify_sm2_cms(_with_timestamp_attribute(sealed, token), b"", _context(pki)))
        return next(c for c in result.checks if c.check is Check.TIMESTAMP)

    assert timestamp_check(sm2_token(pki, value)).passed is True
    assert timestamp_check(_forged(sm2_token(pki, value))).passed is False


def test_forged_ses_timestamp_in_a_pdf_is_not_total_passed(pki: SM2TestPKI) -> None:
    sealed = seal_ses(small_pdf(), pki.seal(), pki.key("sm2-agency-a"), pki.cert("sm2-agency-a"))
    der = contents_der(sealed)
    signature = ses.parse_signature(der)
    signature["time_stamp"] = core.OctetBitString(_forged(sm2_token(pki, signature["signature"].native)))
    hex_old = re.findall(rb"/Contents\s*<([0-9A-Fa-f]+)>", sealed)[-1]
    hex_new = signature.dump(force=True).hex().upper().encode()
    forged = sealed.replace(hex_old, hex_new.ljust(len(hex_old), b"0"), 1)
    policy = ValidationPolicy.preset(trust_roots=[pki.root], extra_certs=[pki.cert("sm2-interm")])
    assert verify(sealed, policy).to_dict()["indication"] == "TOTAL_PASSED"
    report = verify(forged, policy).to_dict()
    assert report["indication"] != "TOTAL_PASSED"
    assert "TIMESTAMP_INVALID" in str(report)


def _with_sm2_document_timestamp(pki: SM2TestPKI, pdf: bytes) -> bytes:
    """``pdf`` plus a document timestamp (SM3 imprint) from the SM2 test TSA, written by pyHanko."""
    out = BytesIO()
    PdfTimeStamper(SM2TimeStamper(pki)).timestamp_pdf(
        IncrementalPdfFileWriter(BytesIO(pdf)), "sm3", output=out
    )
    return out.getvalue()


def test_sm2_document_timestamp_is_a_timestamp_not_a_changed_document(pki: SM2TestPKI) -> None:
    sealed = seal_ses(small_pdf(), pki.seal(), pki.key("sm2-agency-a"), pki.cert("sm2-agency-a"))
    stamped = _with_sm2_document_timestamp(pki, sealed)
    policy = ValidationPolicy.preset(trust_roots=[pki.root], extra_certs=[pki.cert("sm2-interm")])
    report = verify(stamped, policy).to_dict()
    timestamp = report["signatures"][1]
    assert timestamp["kind"] == "document_timestamp" and timestamp["format"] == "RFC3161"
    assert "DIGEST_MISMATCH" not in str(report)
    assert timestamp["indication"] == "TOTAL_PASSED", timestamp
    assert report["indication"] == "TOTAL_PASSED"
    changed = stamped.replace(b"esign test", b"esign TEST", 1)
    assert verify(changed, policy).to_dict()["indication"] == "TOTAL_FAILED"


@pytest.mark.parametrize("style", ["ses", "cms"])
def test_sm2_seal_at_b_t_carries_a_verified_sm2_timestamp(pki: SM2TestPKI, style: str) -> None:
    from esign.seal.pades import Level, SealOptions

    options = SealOptions(level=Level.B_T)
    stamper = SM2TimeStamper(pki)
    if style == "ses":
        sealed = seal_ses(small_pdf(), pki.seal(), pki.key("sm2-agency-a"), pki.cert("sm2-agency-a"), options,
                          timestamper=stamper)  # fmt: skip
        assert ses.parse_signature(contents_der(sealed))["time_stamp"].native is not None
    else:
        signer = SM2Signer(pki.key("sm2-agency-a"), pki.cert("sm2-agency-a"), pki.chain("sm2-agency-a")[1:])
        sealed = seal_sm2_cms(small_pdf(), signer, options, timestamper=stamper)
        unsigned = cms.ContentInfo.load(contents_der(sealed))["content"]["signer_infos"][0]["unsigned_attrs"]
        assert unsigned[0]["type"].native == "signature_time_stamp_token"
    policy = ValidationPolicy.preset(trust_roots=[pki.root], extra_certs=[pki.cert("sm2-interm")])
    report = verify(sealed, policy).to_dict()
    assert report["indication"] == "TOTAL_PASSED", report["findings"]
    assert (
        verify(sealed.replace(b"esign test", b"esign TEST", 1), policy).to_dict()["indication"]
        == "TOTAL_FAILED"
    )


@pytest.mark.parametrize("level", ["B-LT", "B-LTA"])
def test_sm2_cms_seal_at_b_lt_and_b_lta_embeds_sm2_validation_data(pki: SM2TestPKI, level: str) -> None:
    from esign.seal.pades import Level, SealOptions

    signer = SM2Signer(pki.key("sm2-agency-a"), pki.cert("sm2-agency-a"), pki.chain("sm2-agency-a")[1:])
    context = certs.validation_context([pki.root], other_certs=[pki.cert("sm2-tsa")], crls=pki.crls)
    options = SealOptions(level=Level(level))
    sealed = seal_sm2_cms(
        small_pdf(), signer, options, timestamper=SM2TimeStamper(pki), validation_context=context
    )
    dss = DocumentSecurityStore.read_dss(PdfFileReader(BytesIO(sealed)))
    assert pki.crl.dump() in [c.get_object().data for c in dss.crls]
    assert pki.cert("sm2-interm").dump() in [c.dump() for c in dss.load_certs()]
    report = verify(sealed, ValidationPolicy.preset(trust_roots=[pki.root])).to_dict()
    assert report["indication"] == "TOTAL_PASSED", report["findings"]
    kinds = [(s["kind"], s["format"]) for s in report["signatures"]]
    expected = [("signature", "PKCS7-SM2")] + (
        [("document_timestamp", "RFC3161")] if level == "B-LTA" else []
    )
    assert kinds == expected
    assert (
        verify(
            sealed.replace(b"esign test", b"esign TEST", 1), ValidationPolicy.preset(trust_roots=[pki.root])
        ).to_dict()["indication"]
        == "TOTAL_FAILED"
    )
