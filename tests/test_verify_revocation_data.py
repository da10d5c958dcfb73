"""Embedded revocation data makes a signature long-term (B-LT) only when it establishes the status of the
signer's chain, offline: a DSS holding some CRL or OCSP response is not enough (esign.verify.evidence.
revocation_gap). The documents are signed with the live test PKI; the DSS entries are genuine, forged or
misplaced.
"""

from __future__ import annotations

import asyncio
import subprocess
import urllib.request
from io import BytesIO
from pathlib import Path

import pytest
from asn1crypto import crl, ocsp, pem, x509
from pyhanko.sign.fields import SigSeedSubFilter
from pyhanko.sign.validation.dss import DocumentSecurityStore
from pyhanko_certvalidator import ValidationContext

from esign.findings import FindingCode
from esign.report.model import SubIndication
from esign.verify.pipeline import verify
from fixtures.pki import TestPKI
from tests.verify_signing import blank_pdf, sign, trusted, with_crls_in_dss


@pytest.fixture(scope="module")
def b_t(pki: TestPKI) -> bytes:
    return sign(blank_pdf(), pki, timestamp=True)


def _crl_named_by(pki: TestPKI, label: str) -> crl.CertificateList:
    """The CRL that ``label``'s certificate points to (its issuer's)."""
    point = pki.cert(label).crl_distribution_points[0]["distribution_point"].native[0]
    with urllib.request.urlopen(point, timeout=10) as response:
        return crl.CertificateList.load(response.read())


def _ocsp_for(pki: TestPKI, label: str) -> ocsp.OCSPResponse:
    """A genuine OCSP response of the test responder about ``label``'s certificate."""
    context = ValidationContext(trust_roots=[pki.root], allow_fetching=True)
    return asyncio.run(context.async_retrieve_ocsps(pki.cert(label), pki.cert("interm")))[0]


def _broken(value: crl.CertificateList | ocsp.OCSPResponse) -> crl.CertificateList | ocsp.OCSPResponse:
    """The same CRL or OCSP response with one bit of its signature value flipped."""
    raw = bytearray(value.dump())
    raw[-5] ^= 0x01
    return type(value).load(bytes(raw))


def _openssl_verifies_crl(tmp_path: Path, value: crl.CertificateList, issuer: x509.Certificate) -> bool:
    """OpenSSL's verdict on the CRL's signature (the independent referee for "broken")."""
    (tmp_path / "c.crl").write_bytes(value.dump())
    (tmp_path / "issuer.pem").write_bytes(pem.armor("CERTIFICATE", issuer.dump()))
    command = ["openssl", "crl", "-inform", "DER", "-in", str(tmp_path / "c.crl"), "-noout"]
    done = subprocess.run([*command, "-CAfile", str(tmp_path / "issuer.pem")], capture_output=True, text=True)
    return "verify OK" in done.stdout + done.stderr


def _with_dss(pdf: bytes, pki: TestPKI, crls: list, ocsps: list = ()) -> bytes:  # type: ignore[assignment]
    out = BytesIO(pdf)
    DocumentSecurityStore.add_dss(
        out, None, crls=crls, ocsps=list(ocsps), certs=pki.chain("agency-a"), strict=False
    )
    return out.getvalue()


def _only(pdf: bytes, pki: TestPKI, policy: str = "default"):
    report = verify(pdf, trusted(pki, policy))
    assert len(report.signatures) == 1
    return report.signatures[0]


def _missing_detail(pdf: bytes, pki: TestPKI) -> str | None:
    """The detail of REVOCATION_DATA_MISSING (details are in the report's finding list)."""
    report = verify(pdf, trusted(pki))
    missing = [f.detail for f in report.findings if f.code is FindingCode.REVOCATION_DATA_MISSING]
    return missing[0] if missing else None


@pytest.mark.parametrize(
    "source", ["pyHanko B-LT (OCSP + CA CRL)", "CRLs of the chain", "adbe-revocationInfoArchival in the CMS"]
)
def test_revocation_data_that_covers_the_chain_makes_the_signature_b_lt(
    pki: TestPKI, b_t: bytes, source: str
) -> None:
    level = "PAdES-BASELINE-LT"
    if source.startswith("pyHanko"):
        pdf = sign(blank_pdf(), pki, timestamp=True, embed_revocation=True)
    elif source.startswith("adbe"):
        adobe = SigSeedSubFilter.ADOBE_PKCS7_DETACHED
        pdf = sign(blank_pdf(), pki, timestamp=True, embed_revocation=True, subfilter=adobe, reserve=32768)
        level = "PKCS7-LT"
    else:
        pdf = with_crls_in_dss(b_t, pki, "agency-a")
    for policy in ("default", "strict"):
        sig = _only(pdf, pki, policy)
        assert (sig.indication, sig.format) == ("TOTAL_PASSED", level)
        assert "REVOCATION_DATA_MISSING" not in sig.findings
        assert sig.reliable_esignature.verdict == "reliable"


@pytest.mark.parametrize(
    "embedded",
    ["CRL of another CA", "only the root CA's CRL"],
)
def test_revocation_data_that_does_not_speak_for_the_signer_does_not_count(
    pki: TestPKI, b_t: bytes, embedded: str
) -> None:
    """certvalidator (soft-fail) ignores such data; before, the DSS alone made the signature B-LT,
    hid REVOCATION_DATA_MISSING and let the strict policy call it reliable."""
    crls = [_crl_named_by(pki, "interm")]  # the root's CRL: it covers the intermediate CA, not the signer
    if embedded == "CRL of another CA":
        crls.append(pki.sm2.crl_of("sm2-interm"))
    pdf = _with_dss(b_t, pki, crls)
    sig = _only(pdf, pki)
    assert (sig.indication, sig.format) == ("TOTAL_PASSED", "PAdES-BASELINE-T")
    assert "REVOCATION_DATA_MISSING" in sig.findings
    detail = _missing_detail(pdf, pki)
    assert detail is not None and "does not establish the status of" in detail
    assert "no embedded CRL comes from its issuer" in detail and "no embedded OCSP response" in detail
    assert pki.cert("agency-a").subject.human_friendly[:40] in detail
    strict = _only(pdf, pki, "strict")
    assert strict.reliable_esignature.verdict != "reliable"


@pytest.mark.parametrize(
    "embedded",
    ["signer's CRL with a broken signature", "signer's OCSP with a broken signature", "OCSP of another cert"],
)
def test_forged_revocation_data_about_the_chain_is_not_b_lt_and_keeps_its_verdict(
    pki: TestPKI, b_t: bytes, embedded: str, tmp_path: Path
) -> None:
    """Data that names the chain but does not verify already fails certvalidator's soft-fail check
    (INDETERMINATE, as before); it must not make the level B-LT either."""
    root_crl = _crl_named_by(pki, "interm")
    if embedded == "signer's CRL with a broken signature":
        genuine = _crl_named_by(pki, "agency-a")
        assert _openssl_verifies_crl(tmp_path, genuine, pki.cert("interm"))
        assert not _openssl_verifies_crl(tmp_path, _broken(genuine), pki.cert("interm"))
        pdf = _with_dss(b_t, pki, [_broken(genuine), root_crl])
    elif embedded == "signer's OCSP with a broken signature":
        pdf = _with_dss(b_t, pki, [root_crl], [_broken(_ocsp_for(pki, "agency-a"))])
    else:
        pdf = _with_dss(b_t, pki, [root_crl], [_ocsp_for(pki, "agency-b")])
    sig = _only(pdf, pki)
    assert (sig.indication, sig.subindication) == (
        "INDETERMINATE",
        SubIndication.CERTIFICATE_CHAIN_GENERAL_FAILURE,
    )
    assert sig.format == "PAdES-BASELINE-T"
    assert "CERTIFICATE_REVOKED" not in sig.findings


def test_a_broken_ocsp_response_next_to_a_valid_crl_still_covers_the_signer(pki: TestPKI, b_t: bytes) -> None:
    crls = [_crl_named_by(pki, "agency-a"), _crl_named_by(pki, "interm")]
    sig = _only(_with_dss(b_t, pki, crls, [_broken(_ocsp_for(pki, "agency-a"))]), pki)
    assert (sig.indication, sig.format) == ("TOTAL_PASSED", "PAdES-BASELINE-LT")
    assert "REVOCATION_DATA_MISSING" not in sig.findings
