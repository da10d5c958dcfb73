"""Verification of an SM2 CMS signature (style 2: SM3 digest, SM2 signature in a PKCS#7/CAdES SignerInfo).

pyHanko and most validators cannot check SM2 (its signature covers SM3(Z_A || message), where Z_A
hashes the distinguishing ID and the public key), so the CMS is checked here, in the order
GB/T 38540 uses for seals and that fits CMS too: structure → signature value over the signed
attributes → signer certificate validity and chain → document digest against ``messageDigest`` →
the signature timestamp (imprint over the signature value, TSA signature and chain), if there is
one. Either SM2 OID in the SignerInfo is accepted.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from asn1crypto import cms, x509
from pyhanko_certvalidator import ValidationContext

from esign.findings import FindingCode
from esign.gm import oids, sm2
from esign.gm.checks import (
    Check,
    CheckResult,
    SignedContent,
    check_chain,
    content_digest,
    failed,
    find_certificate,
    sm2_verify_with_cert,
)
from esign.gm.timestamps import check_timestamp

__all__ = ["CmsVerification", "is_sm2_signer_info", "timestamp_token", "verify_sm2_cms"]


@dataclass(frozen=True)
class CmsVerification:
    checks: tuple[CheckResult, ...]
    signer: x509.Certificate | None = None
    #: the signingTime attribute, when present (PAdES puts the claimed time in the PDF's /M instead)
    signing_time: datetime | None = None


def is_sm2_signer_info(signer_info: cms.SignerInfo) -> bool:
    """The SignerInfo announces SM2 (either OID) — what tells style 2 from an RSA/ECDSA signature."""
    return signer_info["signature_algorithm"]["algorithm"].dotted in oids.SM2_SIGNATURE_OIDS


async def verify_sm2_cms(
    signed_data: cms.SignedData,
    document: SignedContent,
    context: ValidationContext,
    distinguishing_id: bytes = sm2.DEFAULT_ID,
) -> CmsVerification:
    """Every check, each run even after an earlier failure (all defects are reported at once)."""
    try:
        signer_info, signer, attrs = _unpack(signed_data)
    except _Malformed as exc:
        return CmsVerification(checks=(failed(Check.STRUCTURE, exc.finding, str(exc)),))
    context.certificate_registry.register_multiple(_embedded_certificates(signed_data))
    value = signer_info["signature"].native
    checks = (
        CheckResult(Check.STRUCTURE, True),
        _check_signature_value(signer_info, signer, attrs, distinguishing_id),
        await check_chain(Check.SIGNER_CHAIN, signer, context),
        _check_message_digest(signer_info, attrs, document),
        await check_timestamp(timestamp_token(signer_info), value, context),
    )
    signing_time = attrs.get("signing_time")
    return CmsVerification(
        checks=checks,
        signer=signer,
        signing_time=signing_time if isinstance(signing_time, datetime) else None,
    )


class _Malformed(ValueError):
    def __init__(self, finding: FindingCode, detail: str) -> None:
        super().__init__(detail)
        self.finding = finding


def _unpack(signed_data: cms.SignedData) -> tuple[cms.SignerInfo, x509.Certificate, dict[str, object]]:
    """The single SignerInfo, its certificate and its signed attributes, or :class:`_Malformed`."""
    try:
        infos = signed_data["signer_infos"]
        if len(infos) != 1:
            raise _Malformed(FindingCode.CMS_STRUCTURE_INVALID, f"{len(infos)} SignerInfos (exactly one)")
        signer_info = infos[0]
        if not signer_info["signed_attrs"]:
            raise _Malformed(FindingCode.CMS_STRUCTURE_INVALID, "no signed attributes")
        attrs = {a["type"].native: a["values"][0].native for a in signer_info["signed_attrs"]}
        if "message_digest" not in attrs:
            raise _Malformed(FindingCode.CMS_STRUCTURE_INVALID, "no messageDigest attribute")
        signer = _find_signer(signed_data, signer_info["sid"])
        _ = signer.native
    except _Malformed:
        raise
    except (ValueError, TypeError, KeyError, IndexError, OverflowError) as exc:
        raise _Malformed(FindingCode.CMS_STRUCTURE_INVALID, str(exc) or type(exc).__name__) from None
    return signer_info, signer, attrs


def _embedded_certificates(signed_data: cms.SignedData) -> list[x509.Certificate]:
    return [c.chosen for c in signed_data["certificates"] or () if c.name == "certificate"]


def _find_signer(signed_data: cms.SignedData, sid: cms.SignerIdentifier) -> x509.Certificate:
    cert = find_certificate(signed_data, sid)
    if cert is None:
        raise _Malformed(
            FindingCode.SIGNING_CERTIFICATE_NOT_FOUND, "the signer's certificate is not in the CMS"
        )
    return cert


def _check_signature_value(
    signer_info: cms.SignerInfo, signer: x509.Certificate, attrs: dict[str, object], distinguishing_id: bytes
) -> CheckResult:
    algorithm = signer_info["signature_algorithm"]["algorithm"].dotted
    if algorithm not in oids.SM2_SIGNATURE_OIDS:
        return failed(Check.SIGNATURE_VALUE, FindingCode.SIGNATURE_VALUE_INVALID, f"algorithm {algorithm}")
    # The signature covers the attributes DER-encoded as a SET OF (tag 0x31), not as the [0] field.
    signed = signer_info["signed_attrs"].untag().dump()
    if not sm2_verify_with_cert(signer, signer_info["signature"].native, signed, distinguishing_id):
        return failed(Check.SIGNATURE_VALUE, FindingCode.SIGNATURE_VALUE_INVALID)
    return CheckResult(Check.SIGNATURE_VALUE, True)


def _check_message_digest(
    signer_info: cms.SignerInfo, attrs: dict[str, object], document: SignedContent
) -> CheckResult:
    algorithm = signer_info["digest_algorithm"]["algorithm"].native
    digest = content_digest(document, algorithm)
    if digest is None:
        return failed(
            Check.DOCUMENT_HASH, FindingCode.DIGEST_MISMATCH, f"unknown digest algorithm {algorithm}"
        )
    if digest != attrs["message_digest"]:
        return failed(Check.DOCUMENT_HASH, FindingCode.DIGEST_MISMATCH)
    return CheckResult(Check.DOCUMENT_HASH, True, detail=algorithm)


def timestamp_token(signer_info: cms.SignerInfo) -> bytes | None:
    """The signature timestamp token (unsigned attribute), DER, or None."""
    for attr in signer_info["unsigned_attrs"] or ():
        if attr["type"].native == "signature_time_stamp_token":
            return attr["values"][0].dump()
    return None
