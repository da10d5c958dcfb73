"""Long-term validation of SM2 seals is real: the CRLs are served and checked, timestamps prove time.

- the loopback server serves the SM2 CRLs its certificates name (OpenSSL checks their signatures);
- a revoked SM2 signer is refused at B-LT, and its seal fails (or is INDETERMINATE, per EN 319 102-1)
  once its CRL is in the DSS; a CRL whose signature does not verify, or about another CA, never counts;
- a valid SES / SM2 CMS timestamp's genTime is the best signature time (a revoked signer's seal
  timestamped before the revocation passes), and a forged one proves nothing and is reported.
"""

from __future__ import annotations

import re
import urllib.request
from collections.abc import Callable
from datetime import UTC, datetime
from io import BytesIO
from pathlib import Path

import pytest
from asn1crypto import cms, core, crl, tsp
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.sign.timestamps import TimeStamper
from pyhanko.sign.validation.dss import DocumentSecurityStore

from esign.errors import ErrorCode, EsignError
from esign.gm import ses
from esign.gm.cms_signer import SM2Signer
from esign.gm.sm2 import sm3
from esign.policy import ValidationPolicy
from esign.seal.gm import aseal_with, seal_ses, seal_sm2_cms
from esign.seal.pades import Level, SealOptions, SM2Format
from esign.sync_bridge import run_sync
from esign.verify.pipeline import verify
from fixtures.pki import TestPKI
from fixtures.pki_sm2 import CRL_ISSUERS, REVOKED_AT, SM2TestPKI
from fixtures.tsa_sm2 import SM2TimeStamper, token_for
from tests.gm_openssl import contents_der, needs_openssl, sm2_verifies
from tests.keystore_fixtures import small_pdf

#: a proven time before sm2-revoked's revocation (2025-06-01), and one after it
BEFORE, AFTER = datetime(2025, 5, 1, tzinfo=UTC), datetime(2026, 1, 2, tzinfo=UTC)


@pytest.fixture(scope="module")
def sm2(pki: TestPKI) -> SM2TestPKI:
    return pki.sm2


class _StamperAt(TimeStamper):
    """The SM2 test TSA, answering with tokens issued at a fixed time (a seal made in the past)."""

    def __init__(self, pki: SM2TestPKI, at: datetime) -> None:
        super().__init__()
        self._pki, self._at = pki, at

    async def async_request_tsa_response(self, req: tsp.TimeStampReq) -> tsp.TimeStampResp:
        token = token_for(self._pki, req["message_imprint"], req["nonce"].native, at=self._at)
        return tsp.TimeStampResp({"status": {"status": "granted"}, "time_stamp_token": token})


def _report(sealed: bytes, sm2: SM2TestPKI) -> dict:
    return verify(sealed, ValidationPolicy.preset(trust_roots=[sm2.root])).to_dict()["signatures"][0]


def _with_dss(pdf: bytes, sm2: SM2TestPKI, crls: list[crl.CertificateList]) -> bytes:
    """``pdf`` plus a DSS with the intermediate and ``crls`` (what a B-LT seal would carry)."""
    writer = IncrementalPdfFileWriter(BytesIO(pdf))
    DocumentSecurityStore.supply_dss_in_writer(writer, None, certs=[sm2.cert("sm2-interm")], crls=crls)
    out = BytesIO()
    writer.write(out)
    return out.getvalue()


def _broken(revocation_list: crl.CertificateList) -> crl.CertificateList:
    """The same CRL with one bit of its signature flipped."""
    value = bytearray(revocation_list["signature"].native)
    value[-3] ^= 1
    copy = crl.CertificateList.load(revocation_list.dump())
    copy["signature"] = bytes(value)
    return crl.CertificateList.load(copy.dump(force=True))


def _ses(sm2: SM2TestPKI, label: str, at: datetime, level: Level = Level.B_T) -> bytes:
    stamper = _StamperAt(sm2, at) if level is Level.B_T else None
    return seal_ses(small_pdf(), sm2.seal([label]), sm2.key(label), sm2.cert(label), SealOptions(level=level),
                    signing_time=at, timestamper=stamper, chain=sm2.chain(label)[1:])  # fmt: skip


@needs_openssl
def test_the_loopback_server_serves_the_sm2_crls_the_certificates_name(
    sm2: SM2TestPKI, tmp_path: Path
) -> None:
    for label, issuer in (("sm2-agency-a", "sm2-interm"), ("sm2-interm", "sm2-root")):
        point = sm2.cert(label).crl_distribution_points[0]["distribution_point"].native[0]
        assert point == sm2.crl_url(issuer) and point.startswith("http://127.0.0.1:")
        with urllib.request.urlopen(point, timeout=5) as answer:
            served = crl.CertificateList.load(answer.read())
        tbs = served["tbs_cert_list"]
        assert sm2_verifies(tmp_path, sm2.cert(issuer), tbs.dump(), served["signature"].native)
        revoked = [entry["user_certificate"].native for entry in tbs["revoked_certificates"] or ()]
        assert revoked == ([sm2.cert("sm2-revoked").serial_number] if issuer == "sm2-interm" else [])
    assert set(CRL_ISSUERS) == {"sm2-root", "sm2-interm"}


@pytest.mark.parametrize("sm2_format", ["ses", "cms"])
def test_a_revoked_sm2_signer_is_refused_at_b_lt(sm2: SM2TestPKI, sm2_format: str) -> None:
    signer = SM2Signer(sm2.key("sm2-revoked"), sm2.cert("sm2-revoked"), sm2.chain("sm2-revoked")[1:])
    options = SealOptions(level=Level.B_LT, sm2_format=SM2Format(sm2_format))
    with pytest.raises(EsignError) as refused:
        run_sync(aseal_with(small_pdf(), signer, options, timestamper=SM2TimeStamper(sm2),
                            ses_seal=sm2.seal(["sm2-revoked"])))  # fmt: skip
    assert refused.value.code is ErrorCode.CERT_REVOKED


@pytest.mark.parametrize(
    ("label", "at", "level", "crls", "indication", "sub", "finding"),
    [
        ("sm2-revoked", AFTER, Level.B_T, "good", "TOTAL_FAILED", "REVOKED", "CERTIFICATE_REVOKED"),
        ("sm2-revoked", BEFORE, Level.B_T, "good", "TOTAL_PASSED", None, None),
        ("sm2-revoked", BEFORE, Level.B_B, "good", "INDETERMINATE", "REVOKED_NO_POE", "CERTIFICATE_REVOKED"),
        ("sm2-revoked", AFTER, Level.B_T, "broken", "INDETERMINATE", None, "CHAIN_INVALID"),
        ("sm2-agency-a", AFTER, Level.B_T, "broken", "INDETERMINATE", None, "CHAIN_INVALID"),
        ("sm2-agency-a", AFTER, Level.B_T, "root only", "TOTAL_PASSED", None, "REVOCATION_DATA_MISSING"),
        ("sm2-agency-a", AFTER, Level.B_T, "good", "TOTAL_PASSED", None, None),
    ],
    ids=["revoked-before-poe", "poe-before-revocation", "revoked-no-poe", "revoked-forged-crl",
         "forged-crl", "crl-of-another-ca", "good"],
)  # fmt: skip
def test_embedded_sm2_revocation_data_is_really_checked(
    sm2: SM2TestPKI,
    label: str,
    at: datetime,
    level: Level,
    crls: str,
    indication: str,
    sub: str | None,
    finding: str | None,
) -> None:
    embedded = {
        "good": sm2.crls,
        "broken": [_broken(sm2.crl_of("sm2-interm")), sm2.crl_of("sm2-root")],
        "root only": [sm2.crl_of("sm2-root")],
    }[crls]
    report = _report(_with_dss(_ses(sm2, label, at, level), sm2, embedded), sm2)
    assert report["indication"] == indication, report["findings"]
    assert sub is None or report["subindication"] == sub
    if finding is not None:
        assert finding in report["findings"]
    if crls == "broken":  # the forged CRL says sm2-revoked is revoked, but it must not count either way
        assert "CERTIFICATE_REVOKED" not in report["findings"]
    if level is Level.B_T and crls != "broken":
        assert datetime.fromisoformat(report["best_signature_time"]) == at
    if crls == "good":
        assert "REVOCATION_DATA_MISSING" not in report["findings"]
    assert REVOKED_AT < AFTER and BEFORE < REVOKED_AT


def _forged_signature(token: cms.ContentInfo) -> cms.ContentInfo:
    token = cms.ContentInfo.load(token.dump())
    token["content"]["signer_infos"][0]["signature"] = b"\x30\x06\x02\x01\x01\x02\x01\x01"
    return cms.ContentInfo.load(token.dump(force=True))


def _without_certificates(token: cms.ContentInfo) -> cms.ContentInfo:
    token = cms.ContentInfo.load(token.dump())
    del token["content"]["certificates"]
    return cms.ContentInfo.load(token.dump(force=True))


_FORGERIES: dict[str, Callable[[SM2TestPKI, cms.ContentInfo, bytes], cms.ContentInfo]] = {
    "garbage-tsa-signature": lambda pki, token, value: _forged_signature(token),
    "wrong-imprint": lambda pki, token, value: token_for(pki, _imprint(value + b"x"), at=AFTER),
    "no-tsa-certificate": lambda pki, token, value: _without_certificates(token),
    "tsa-without-timestamping-eku": lambda pki, token, value: token_for(
        pki, _imprint(value), at=AFTER, signer="sm2-agency-b"
    ),
}


def _imprint(stamped: bytes) -> tsp.MessageImprint:
    return tsp.MessageImprint({"hash_algorithm": {"algorithm": "sm3"}, "hashed_message": sm3(stamped)})


def _replace_contents(sealed: bytes, der: bytes) -> bytes:
    """``sealed`` with its first /Contents holding ``der`` instead (same length, zero padded)."""
    assert der != contents_der(sealed, 0)
    old = re.findall(rb"/Contents\s*<([0-9A-Fa-f]+)>", sealed)[0]
    new = der.hex().upper().encode()
    assert len(new) <= len(old)
    return sealed.replace(old, new.ljust(len(old), b"0"), 1)


def _swap_token(
    sealed: bytes, sm2_format: str, forge: Callable[..., cms.ContentInfo], pki: SM2TestPKI
) -> bytes:
    der = contents_der(sealed, 0)
    if sm2_format == "ses":
        signature = ses.parse_signature(der)
        value = signature["signature"].native
        forged = forge(pki, cms.ContentInfo.load(signature["time_stamp"].native), value)
        signature["time_stamp"] = core.OctetBitString(forged.dump())
        return _replace_contents(sealed, signature.dump())
    info = cms.ContentInfo.load(der)
    signer_info = info["content"]["signer_infos"][0]
    value = signer_info["signature"].native
    forged = forge(pki, signer_info["unsigned_attrs"][0]["values"][0], value)
    signer_info["unsigned_attrs"] = [{"type": "signature_time_stamp_token", "values": [forged]}]
    changed = info.dump()  # re-encodes what changed (force=True would re-encode every certificate: minutes)
    return _replace_contents(sealed, changed)


@pytest.fixture(scope="module")
def timestamped(sm2: SM2TestPKI) -> dict[str, bytes]:
    """An SES and an SM2 CMS seal at B-T whose genuine tokens were issued at :data:`AFTER`."""
    signer = SM2Signer(sm2.key("sm2-agency-a"), sm2.cert("sm2-agency-a"), sm2.chain("sm2-agency-a")[1:])
    cms_seal = seal_sm2_cms(
        small_pdf(), signer, SealOptions(level=Level.B_T), timestamper=_StamperAt(sm2, AFTER)
    )
    return {"ses": _ses(sm2, "sm2-agency-a", AFTER), "cms": cms_seal}


@pytest.mark.parametrize("sm2_format", ["ses", "cms"])
def test_a_genuine_sm2_signature_timestamp_is_the_best_signature_time(
    sm2: SM2TestPKI, timestamped: dict[str, bytes], sm2_format: str
) -> None:
    genuine = _report(timestamped[sm2_format], sm2)
    assert genuine["indication"] == "TOTAL_PASSED", genuine["findings"]
    assert datetime.fromisoformat(genuine["best_signature_time"]) == AFTER
    assert "NO_TIMESTAMP" not in genuine["findings"]


@pytest.mark.parametrize("forgery", list(_FORGERIES))
@pytest.mark.parametrize("sm2_format", ["ses", "cms"])
def test_a_forged_sm2_signature_timestamp_proves_no_time_and_is_reported(
    sm2: SM2TestPKI, timestamped: dict[str, bytes], sm2_format: str, forgery: str
) -> None:
    forged = _swap_token(timestamped[sm2_format], sm2_format, _FORGERIES[forgery], sm2)
    report = _report(forged, sm2)
    assert report["indication"] == "INDETERMINATE", report["findings"]
    assert "TIMESTAMP_INVALID" in report["findings"]
    assert datetime.fromisoformat(report["best_signature_time"]) != AFTER
