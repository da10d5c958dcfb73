"""SES_Signature verification in GB/T 38540's order, and SM2 chains through pyhanko-certvalidator."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest
from asn1crypto import pem, x509
from pyhanko_certvalidator import CertificateValidator
from pyhanko_certvalidator.errors import PathValidationError

from esign.findings import FindingCode
from esign.gm import certs, ses, ses_make, sm2
from esign.gm.ses_verify import Check, SesVerification, verify_ses_signature
from fixtures.pki import TestPKI
from fixtures.pki_sm2 import SM2TestPKI, load

DOCUMENT = b"%PDF-1.7 ... the bytes covered by the ByteRange ..."
SIGNED_AT = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)
PICTURE = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4


@pytest.fixture(scope="module")
def pki() -> SM2TestPKI:
    return load()


def _seal(
    pki: SM2TestPKI, signers: list[str], valid_end: datetime = datetime(2030, 1, 1, tzinfo=UTC)
) -> ses.SESeal:
    info = ses_make.SealInfo(
        "esign-0001", "测试市市场监督管理局业务专用章", 1, PICTURE, "PNG", 42, 42,
        datetime(2025, 1, 1, tzinfo=UTC), valid_end,
    )  # fmt: skip
    return ses_make.make_seal(
        info, [pki.cert(s) for s in signers], pki.key("sm2-maker"), pki.cert("sm2-maker")
    )


def _sign(pki: SM2TestPKI, seal: ses.SESeal, signer: str = "sm2-agency-a", **kwargs) -> bytes:
    return ses_make.make_signature(
        seal, sm2.sm3(DOCUMENT), "ByteRange=[0 100 200 300]", pki.key(signer), pki.cert(signer),
        signing_time=kwargs.pop("signing_time", SIGNED_AT), **kwargs,
    ).dump()  # fmt: skip


def _verify(pki: SM2TestPKI, der: bytes, document: bytes | None = DOCUMENT) -> SesVerification:
    context = certs.validation_context(
        [pki.root], other_certs=[pki.cert("sm2-interm")], crls=pki.crls, moment=SIGNED_AT
    )
    return asyncio.run(verify_ses_signature(der, context, document))


def test_good_seal_signature_passes_every_check_in_the_standards_order(pki: SM2TestPKI) -> None:
    result = _verify(pki, _sign(pki, _seal(pki, ["sm2-agency-a", "sm2-agency-b"])))
    assert result.valid and result.findings == []
    assert [c.check for c in result.checks] == list(Check)
    assert all(c.passed for c in result.checks if c.check not in (Check.TIMESTAMP, Check.SEAL_TIMESTAMP))
    assert result.format == "GBT38540-v4"
    assert result.seal_name == "测试市市场监督管理局业务专用章"
    assert result.signing_time == SIGNED_AT


def test_altered_document_byte_is_digest_mismatch(pki: SM2TestPKI) -> None:
    tampered = DOCUMENT.replace(b"ByteRange", b"ByteRangf")
    result = _verify(pki, _sign(pki, _seal(pki, ["sm2-agency-a"])), document=tampered)
    assert result.findings == [FindingCode.DIGEST_MISMATCH]
    assert not result.valid


def test_altered_seal_picture_breaks_maker_and_signer_signatures(pki: SM2TestPKI) -> None:
    der = _sign(pki, _seal(pki, ["sm2-agency-a"]))
    tampered = der.replace(bytes(range(256)), bytes(range(1, 256)) + b"\x00", 1)
    assert tampered != der
    result = _verify(pki, tampered)
    assert FindingCode.SES_SEAL_SIGNATURE_INVALID in result.findings
    assert result.result(Check.SIGNATURE_VALUE).finding is FindingCode.SIGNATURE_VALUE_INVALID


def test_signer_not_in_cert_list_is_reported(pki: SM2TestPKI) -> None:
    result = _verify(pki, _sign(pki, _seal(pki, ["sm2-agency-a"]), signer="sm2-agency-b"))
    assert result.result(Check.SIGNATURE_VALUE).passed is True
    assert result.findings == [FindingCode.SES_SIGNER_NOT_IN_SEAL]


def test_signing_after_seal_validity_window_is_reported(pki: SM2TestPKI) -> None:
    seal = _seal(pki, ["sm2-agency-a"], valid_end=datetime(2026, 1, 1, tzinfo=UTC))
    result = _verify(pki, _sign(pki, seal))
    assert result.findings == [FindingCode.SES_SEAL_OUTSIDE_VALIDITY]


def test_broken_maker_signature_is_reported(pki: SM2TestPKI) -> None:
    seal = _seal(pki, ["sm2-agency-a"])
    forged = ses.SESeal.load(seal.dump())
    forged["signed_value"] = sm2.sign(pki.key("sm2-maker"), b"something else")
    result = _verify(pki, _sign(pki, ses.SESeal.load(forged.dump())))
    assert result.result(Check.SIGNATURE_VALUE).passed is True  # the signer signed the forged seal as is
    assert result.findings == [FindingCode.SES_SEAL_SIGNATURE_INVALID]


def test_wrong_distinguishing_id_fails_the_signature_value(pki: SM2TestPKI) -> None:
    der = _sign(pki, _seal(pki, ["sm2-agency-a"]), distinguishing_id=b"agency-a@example.cn")
    result = _verify(pki, der)
    assert result.findings == [FindingCode.SIGNATURE_VALUE_INVALID]


def test_untrusted_sm2_root_fails_the_signer_chain(pki: SM2TestPKI) -> None:
    result = _verify(pki, _sign(pki, _seal(pki, ["sm2-rogue-signer"]), signer="sm2-rogue-signer"))
    assert result.result(Check.SIGNATURE_VALUE).passed is True
    assert result.findings == [FindingCode.CHAIN_UNTRUSTED]


def test_revoked_signer_certificate_is_reported(pki: SM2TestPKI) -> None:
    result = _verify(pki, _sign(pki, _seal(pki, ["sm2-revoked"]), signer="sm2-revoked"))
    assert result.findings == [FindingCode.CERTIFICATE_REVOKED]


def test_without_document_the_hash_check_is_not_made(pki: SM2TestPKI) -> None:
    result = _verify(pki, _sign(pki, _seal(pki, ["sm2-agency-a"])), document=None)
    assert result.result(Check.DOCUMENT_HASH).passed is None
    assert result.valid


@pytest.mark.parametrize("garbage", [b"", b"\x30\x82\x01", b"%PDF-1.7", b"\x30\x03\x02\x01\x04"])
def test_malformed_ses_signature_is_a_finding_not_an_exception(pki: SM2TestPKI, garbage: bytes) -> None:
    result = _verify(pki, garbage)
    assert result.findings == [FindingCode.SES_STRUCTURE_INVALID]


def _forged_agency_cert(pki: SM2TestPKI) -> x509.Certificate:
    """sm2-agency-a's certificate re-signed by a key that is not the intermediate's."""
    genuine = pki.cert("sm2-agency-a")
    tbs = genuine["tbs_certificate"]
    signature = sm2.sign(pki.key("sm2-rogue-root"), tbs.dump())
    return x509.Certificate(
        {
            "tbs_certificate": tbs,
            "signature_algorithm": genuine["signature_algorithm"],
            "signature_value": signature,
        }
    )


def test_sm2_signature_of_each_certificate_is_checked_not_bypassed(pki: SM2TestPKI) -> None:
    context = certs.validation_context([pki.root], other_certs=[pki.cert("sm2-interm")])
    path = asyncio.run(certs.validate_signer_chain(pki.cert("sm2-agency-a"), context))
    assert len(path) == 3
    with pytest.raises(PathValidationError, match="signature"):
        asyncio.run(certs.validate_signer_chain(_forged_agency_cert(pki), context))


def test_rsa_chains_still_validate_with_the_sm2_aware_validator() -> None:
    rsa = TestPKI()
    context = certs.validation_context([rsa.root], other_certs=rsa.chain("agency-a")[1:])
    path = asyncio.run(
        CertificateValidator(rsa.cert("agency-a"), validation_context=context).async_validate_path()
    )
    assert path.leaf.dump() == rsa.cert("agency-a").dump()


@pytest.mark.skipif(shutil.which("openssl") is None, reason="the openssl CLI is not installed")
def test_sm2_test_certificates_verify_with_openssl_cli(pki: SM2TestPKI, tmp_path: Path) -> None:
    # OpenSSL 3 applies -vfyopt's distinguishing ID to the target certificate only, so check link by link.
    for child, issuer in (("sm2-agency-a", "sm2-interm"), ("sm2-interm", "sm2-root")):
        (tmp_path / "issuer.pem").write_bytes(pem.armor("CERTIFICATE", pki.cert(issuer).dump()))
        (tmp_path / "child.pem").write_bytes(pem.armor("CERTIFICATE", pki.cert(child).dump()))
        run = subprocess.run(
            ["openssl", "verify", "-partial_chain", "-vfyopt", "distid:1234567812345678", "-CAfile",
             str(tmp_path / "issuer.pem"), str(tmp_path / "child.pem")],
            capture_output=True, timeout=30, check=False,
        )  # fmt: skip
        assert run.returncode == 0, run.stderr
