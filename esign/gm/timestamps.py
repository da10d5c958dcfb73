"""RFC 3161 timestamp tokens in Chinese signatures, judged completely: imprint, TSA signature, TSA chain.

A token proves a time only if the TSA made it: the message imprint alone can be computed by anyone,
so a token with a garbage SignerInfo signature and no TSA certificate proves nothing. Here the token
must (1) imprint the expected bytes, (2) carry a SignerInfo whose signed attributes bind the TSTInfo
(``messageDigest``, ``contentType``) and whose signature verifies with the TSA certificate (SM2 or
RSA/ECDSA, one validator: :class:`esign.gm.certs.SM2SignatureValidator`), and (3) name a TSA whose
certificate chains to a trust anchor and allows time stamping (extended key usage ``timeStamping``).
Only then is ``genTime`` a proof of existence. Used for ``SES_Signature.timeStamp``, a version-5
seal's own timestamp and the signature timestamp of an SM2 CMS signature (GB/T 38540 §7.3: the
imprint is over the signature value) — and for SM2 document timestamps (imprint over the ByteRange).
"""

from __future__ import annotations

from datetime import datetime

from asn1crypto import cms, tsp, x509
from cryptography.exceptions import InvalidSignature
from pyhanko_certvalidator import CertificateValidator, ValidationContext
from pyhanko_certvalidator.errors import PathBuildingError, PathValidationError, ValidationError
from pyhanko_certvalidator.sig_validate import SignatureValidationContext

from esign.findings import FindingCode
from esign.gm import certs
from esign.gm.checks import Check, CheckResult, SignedContent, content_digest, failed, find_certificate

__all__ = ["check_timestamp", "gen_time"]


class _Bad(ValueError):
    def __init__(self, finding: FindingCode, detail: str) -> None:
        super().__init__(detail)
        self.finding = finding


async def check_timestamp(
    token_der: bytes | None,
    imprinted: SignedContent,
    context: ValidationContext,
    check: Check = Check.TIMESTAMP,
) -> CheckResult:
    """The token over ``imprinted`` (bytes, or a function giving their digest by algorithm name)."""
    if token_der is None:
        return CheckResult(check, None, detail="no timestamp")
    try:
        signed_data, tst_info = _parse(token_der)
        imprint = tst_info["message_imprint"]
        if (
            content_digest(imprinted, imprint["hash_algorithm"]["algorithm"].native)
            != imprint["hashed_message"].native
        ):
            raise _Bad(FindingCode.TIMESTAMP_INVALID, "imprint mismatch")
        tsa = _verify_tsa_signature(signed_data)
        await _validate_tsa(tsa, signed_data, context)
    except _Bad as exc:
        return failed(check, exc.finding, str(exc))
    except (ValueError, TypeError, KeyError, IndexError) as exc:
        return failed(check, FindingCode.TIMESTAMP_INVALID, str(exc) or type(exc).__name__)
    tsa_name = tsa.subject.native.get("common_name", tsa.subject.human_friendly)
    return CheckResult(check, True, detail=f"time {tst_info['gen_time'].native.isoformat()} by {tsa_name}")


def gen_time(token_der: bytes) -> datetime | None:
    """``genTime`` of a token (call only after :func:`check_timestamp` passed)."""
    try:
        return _parse(token_der)[1]["gen_time"].native
    except (ValueError, TypeError, KeyError, IndexError):
        return None


def _parse(token_der: bytes) -> tuple[cms.SignedData, tsp.TSTInfo]:
    token = cms.ContentInfo.load(token_der)
    if token["content_type"].native != "signed_data":
        raise _Bad(FindingCode.TIMESTAMP_INVALID, "not a SignedData")
    signed_data = token["content"]
    encap = signed_data["encap_content_info"]
    if encap["content_type"].native != "tst_info":
        raise _Bad(FindingCode.TIMESTAMP_INVALID, f"content {encap['content_type'].native}, not TSTInfo")
    tst_info = encap["content"].parsed
    _ = tst_info.native
    return signed_data, tst_info


def _verify_tsa_signature(signed_data: cms.SignedData) -> x509.Certificate:
    """The TSA certificate, once its signature over the signed attributes (binding TSTInfo) verifies."""
    infos = signed_data["signer_infos"]
    if len(infos) != 1:
        raise _Bad(FindingCode.TIMESTAMP_INVALID, f"{len(infos)} SignerInfos (exactly one)")
    info = infos[0]
    tsa = find_certificate(signed_data, info["sid"])
    if tsa is None:
        raise _Bad(FindingCode.TIMESTAMP_INVALID, "the TSA certificate is not in the token")
    if not info["signed_attrs"]:
        raise _Bad(FindingCode.TIMESTAMP_INVALID, "no signed attributes")
    attrs = {a["type"].native: a["values"][0].native for a in info["signed_attrs"]}
    digest_algorithm = info["digest_algorithm"]["algorithm"].native
    tst_der = signed_data["encap_content_info"]["content"].contents
    if attrs.get("content_type") != "tst_info" or attrs.get("message_digest") != content_digest(
        tst_der, digest_algorithm
    ):
        raise _Bad(FindingCode.TIMESTAMP_INVALID, "the signed attributes do not bind the TSTInfo")
    try:
        certs.SM2SignatureValidator().validate_signature(
            info["signature"].native,
            info["signed_attrs"].untag().dump(),
            tsa.public_key,
            info["signature_algorithm"],
            SignatureValidationContext(contextual_md_algorithm=digest_algorithm),
        )
    except (InvalidSignature, ValidationError, ValueError) as exc:
        raise _Bad(FindingCode.TIMESTAMP_INVALID, f"the TSA signature does not verify: {exc}") from None
    return tsa


async def _validate_tsa(
    tsa: x509.Certificate, signed_data: cms.SignedData, context: ValidationContext
) -> None:
    embedded = [c.chosen for c in signed_data["certificates"] or () if c.name == "certificate"]
    context.certificate_registry.register_multiple(embedded)
    validator = CertificateValidator(tsa, validation_context=context)
    try:
        await validator.async_validate_usage(set(), extended_key_usage={"time_stamping"})
    except PathBuildingError as exc:
        raise _Bad(FindingCode.TIMESTAMP_UNTRUSTED, str(exc)) from None
    except (PathValidationError, ValidationError) as exc:  # revoked, expired, or no timeStamping EKU
        raise _Bad(FindingCode.TIMESTAMP_INVALID, str(exc)) from None
