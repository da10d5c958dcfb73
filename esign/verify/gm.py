"""One entry point for the PDF verifier: a signature whose /Contents is SM2 CMS (style 2) or a
GB/T 38540 ``SES_Signature`` (style 3) → checks, findings and an EN 319 102-1 verdict.

The pipeline finds the signature, its /Contents and its ByteRange as for any PDF signature; when
:func:`gm_format` names a Chinese format it calls :func:`verify_gm_signature` instead of pyHanko and
copies the :class:`GmResult` fields into its assessment. The verdict follows the same rule as the
rest of the report: the worst indication over the failed checks, and the sub-indication of the first
failed check (in the standard's order) with that indication.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from typing import Literal

from asn1crypto import cms, crl, ocsp, parser, x509
from pyhanko_certvalidator import ValidationContext

from esign.errors import EsignError
from esign.findings import FindingCode
from esign.gm import certs, ses, sm2
from esign.gm.checks import Check, CheckResult, SignedContent, content_digest, failed, find_certificate
from esign.gm.cms_verify import is_sm2_signer_info, verify_sm2_cms
from esign.gm.cms_verify import timestamp_token as cms_timestamp_token
from esign.gm.ses_verify import timestamp_token as ses_timestamp_token
from esign.gm.ses_verify import verify_ses_signature
from esign.gm.timestamps import check_timestamp, gen_time
from esign.pdf.input import open_pdf
from esign.policy import ValidationPolicy
from esign.report.model import Chain, Crypto, Indication, Integrity, SubIndication
from esign.verify.signatures import check_byte_range, find_signatures

__all__ = [
    "PKCS7_SM2",
    "RFC3161_SM2",
    "GmResult",
    "gm_format",
    "gm_validation_context",
    "proven_signature_time",
    "verify_gm_pdf",
    "verify_gm_signature",
]

PKCS7_SM2 = "PKCS7-SM2"
#: an RFC 3161 document timestamp whose TSA signs with SM2 (pyHanko cannot check it)
RFC3161_SM2 = "RFC3161"

_FAILED, _INDETERMINATE = Indication.TOTAL_FAILED, Indication.INDETERMINATE
#: what a failed check means in EN 319 102-1 terms; chain checks are told apart by their finding
_VERDICTS: dict[Check | FindingCode, tuple[Indication, SubIndication]] = {
    Check.STRUCTURE: (_INDETERMINATE, SubIndication.FORMAT_FAILURE),
    FindingCode.SIGNING_CERTIFICATE_NOT_FOUND: (_INDETERMINATE, SubIndication.NO_SIGNING_CERTIFICATE_FOUND),
    Check.SIGNATURE_VALUE: (_FAILED, SubIndication.SIG_CRYPTO_FAILURE),
    Check.SIGNER_IN_SEAL: (_FAILED, SubIndication.SIG_CONSTRAINTS_FAILURE),
    Check.SEAL_MAKER_SIGNATURE: (_FAILED, SubIndication.SIG_CRYPTO_FAILURE),
    Check.SEAL_VALIDITY: (_FAILED, SubIndication.SIG_CONSTRAINTS_FAILURE),
    Check.DOCUMENT_HASH: (_FAILED, SubIndication.HASH_FAILURE),
    Check.TIMESTAMP: (_INDETERMINATE, SubIndication.SIG_CONSTRAINTS_FAILURE),
    Check.SEAL_TIMESTAMP: (_INDETERMINATE, SubIndication.SIG_CONSTRAINTS_FAILURE),
    FindingCode.CHAIN_UNTRUSTED: (_INDETERMINATE, SubIndication.NO_CERTIFICATE_CHAIN_FOUND),
    FindingCode.CERTIFICATE_REVOKED: (_INDETERMINATE, SubIndication.REVOKED_NO_POE),
    FindingCode.CERTIFICATE_EXPIRED: (_INDETERMINATE, SubIndication.OUT_OF_BOUNDS_NO_POE),
    FindingCode.CERTIFICATE_NOT_YET_VALID: (_FAILED, SubIndication.NOT_YET_VALID),
    FindingCode.KEY_USAGE_NOT_ALLOWED: (_INDETERMINATE, SubIndication.CHAIN_CONSTRAINTS_FAILURE),
    FindingCode.CHAIN_INVALID: (_INDETERMINATE, SubIndication.CERTIFICATE_CHAIN_GENERAL_FAILURE),
}
_CHAIN_STATES: dict[FindingCode, Chain] = {
    FindingCode.CERTIFICATE_REVOKED: "revoked",
    FindingCode.CERTIFICATE_EXPIRED: "expired",
    FindingCode.CERTIFICATE_NOT_YET_VALID: "not_yet_valid",
}
_CHAIN_CHECKS = (Check.SIGNER_CHAIN, Check.SEAL_MAKER_CHAIN)


@dataclass(frozen=True)
class GmResult:
    """The outcome for one style-2 or style-3 signature, in the report's vocabulary."""

    #: ``PKCS7-SM2``, ``GBT38540-v4``, ``GBT38540-v5``, ``GMT0031-v1`` (``GBT38540`` when unreadable)
    format: str
    checks: tuple[CheckResult, ...]
    signer: x509.Certificate | None = None
    #: the time the signature claims: TBS_Sign's timeInfo, or the CMS signingTime attribute
    signing_time: datetime | None = None
    seal_name: str = ""
    seal_id: str = ""
    property_info: str = ""

    @property
    def findings(self) -> list[FindingCode]:
        return [c.finding for c in self.checks if c.finding is not None]

    @property
    def integrity(self) -> Integrity:
        return _state(self._passed(Check.DOCUMENT_HASH), "ok", "broken")

    @property
    def crypto(self) -> Crypto:
        return _state(self._passed(Check.SIGNATURE_VALUE, Check.SEAL_MAKER_SIGNATURE), "ok", "failed")

    @property
    def chain(self) -> Chain:
        signer = next((c for c in self.checks if c.check is Check.SIGNER_CHAIN), None)
        if signer is None or signer.passed is None:
            return "unknown"
        if signer.passed:
            return "trusted"
        return _CHAIN_STATES.get(signer.finding, "untrusted") if signer.finding else "untrusted"

    @property
    def indication(self) -> tuple[Indication, SubIndication | None]:
        verdicts = [self._verdict(c) for c in self.checks if c.passed is False]
        if not verdicts:
            return Indication.TOTAL_PASSED, None
        worst = max(verdicts, key=lambda v: v[0].rank)[0]
        return worst, next(sub for indication, sub in verdicts if indication is worst)

    def _passed(self, *checks: Check) -> bool | None:
        outcomes = [c.passed for c in self.checks if c.check in checks]
        if False in outcomes:
            return False
        return True if outcomes and all(outcomes) else None

    def _verdict(self, check: CheckResult) -> tuple[Indication, SubIndication]:
        if check.finding is FindingCode.CERTIFICATE_REVOKED and self._revoked_before_signing(check):
            return _FAILED, SubIndication.REVOKED
        if check.check in _CHAIN_CHECKS or check.finding is FindingCode.SIGNING_CERTIFICATE_NOT_FOUND:
            return _VERDICTS.get(check.finding, _VERDICTS[FindingCode.CHAIN_INVALID])  # type: ignore[arg-type]
        return _VERDICTS[check.check]

    def _revoked_before_signing(self, check: CheckResult) -> bool:
        """Revoked before the claimed signing time: the signature was made with a dead key."""
        return (
            check.revoked_at is not None
            and self.signing_time is not None
            and check.revoked_at <= self.signing_time
        )


def _state(passed: bool | None, good: str, bad: str) -> Literal["ok", "broken", "failed", "unknown"]:
    if passed is None:
        return "unknown"
    return good if passed else bad  # type: ignore[return-value]


def gm_format(contents: bytes) -> str | None:
    """``PKCS7-SM2``, ``GBT38540-v…`` or ``GMT0031-v1``; None when /Contents is neither (RSA CMS, junk)."""
    der = _der(contents)
    if der is None:
        return None
    signed_data = _sm2_signed_data(der)
    if signed_data is not None:
        return RFC3161_SM2 if _is_timestamp(signed_data) else PKCS7_SM2
    try:
        version = ses.seal_version(ses.parse_signature(der)["to_sign"]["eseal"])
    except (EsignError, ValueError, TypeError, KeyError):  # unparsable: simply not a seal signature
        return None
    return "GMT0031-v1" if version == 1 else f"GBT38540-v{version}"


async def verify_gm_signature(
    contents: bytes,
    document: SignedContent,
    context: ValidationContext,
    *,
    distinguishing_id: bytes = sm2.DEFAULT_ID,
) -> GmResult:
    """Verify one style-2/3 signature. ``contents`` is the /Contents value (zero padding allowed);
    ``document`` the ByteRange bytes or a function hashing them by algorithm name; ``context`` from
    :func:`gm_validation_context` (SM2-capable, one per signature: embedded certificates are added).
    """
    der = _der(contents) or b""
    signed_data = _sm2_signed_data(der)
    if signed_data is not None and _is_timestamp(signed_data):
        return await _verify_document_timestamp(der, signed_data, document, context)
    if signed_data is not None:
        cms_result = await verify_sm2_cms(signed_data, document, context, distinguishing_id)
        return GmResult(PKCS7_SM2, cms_result.checks, cms_result.signer, cms_result.signing_time)
    seal = await verify_ses_signature(der, context, document, distinguishing_id)
    return GmResult(
        seal.format,
        seal.checks,
        seal.signer,
        seal.signing_time,
        seal.seal_name,
        seal.seal_id,
        seal.property_info,
    )


async def verify_gm_pdf(
    pdf: bytes,
    policy: ValidationPolicy,
    *,
    other_certs: Iterable[x509.Certificate] = (),
    crls: Iterable[crl.CertificateList] = (),
) -> list[tuple[str, GmResult]]:
    """(field name, result) for every style-2/3 signature of ``pdf``, without the rest of the pipeline.

    For tools and tests that look at Chinese signatures alone (benchmark, conformance pack); the full
    report comes from :mod:`esign.verify.pipeline`. Signatures of other formats are skipped.
    """
    parsed = open_pdf(pdf, policy.limits)
    slots, _ = find_signatures(parsed)
    certs_given, crls_given = list(other_certs), list(crls)
    out = []
    for slot in slots:
        if slot.contents is None or gm_format(slot.contents) is None:
            continue
        context = gm_validation_context(policy, other_certs=certs_given, crls=crls_given)
        if check_byte_range(parsed, slot).signed_end is None or slot.byte_range is None:
            broken = failed(Check.STRUCTURE, FindingCode.BYTERANGE_INVALID)
            out.append((slot.field_name, GmResult(gm_format(slot.contents) or "", (broken,))))
            continue
        document = partial(parsed.digests.of_ranges, slot.byte_range)
        out.append((slot.field_name, await verify_gm_signature(slot.contents, document, context)))
    return out


def gm_validation_context(
    policy: ValidationPolicy,
    *,
    other_certs: Iterable[x509.Certificate] = (),
    crls: Iterable[crl.CertificateList] = (),
    ocsps: Iterable[ocsp.OCSPResponse] = (),
    moment: datetime | None = None,
) -> ValidationContext:
    """The policy's trust anchors and network rule with SM2 signature checking plugged in.

    ``moment`` (e.g. the signing time proven by a timestamp) defaults to the policy's validation
    time, then to now. Revocation is soft-fail as for every other signature of the report: missing
    revocation data is the policy's call, a revoked certificate is always found when data is there.
    """
    return certs.validation_context(
        policy.trust_roots,
        other_certs=[*other_certs, *policy.extra_certs],
        crls=crls,
        ocsps=ocsps,
        moment=moment or policy.validation_time,
        allow_fetching=policy.allow_fetching,
        revocation_mode="soft-fail",
        retroactive_revinfo=_in_the_past(policy, moment),
    )


def _in_the_past(policy: ValidationPolicy, moment: datetime | None) -> bool:
    """Judging at a proven time before the validation time: data embedded later still speaks about it
    (as :func:`esign.verify.evidence.validation_context` does for PAdES)."""
    if moment is None:
        return False
    return policy.validation_time is not None or moment < datetime.now(UTC)


async def proven_signature_time(contents: bytes, context: ValidationContext) -> datetime | None:
    """``genTime`` of the signature's own timestamp — ``SES_Signature.timeStamp`` or the SM2 CMS
    signature timestamp — once the token is judged whole (imprint over the signature value, TSA
    signature, chain, timeStamping EKU: :func:`esign.gm.timestamps.check_timestamp`); None without
    a valid one. That time is the proof of existence the chain and the seal are then judged at,
    as a PAdES signature timestamp is; a forged token proves nothing and is reported by the check.
    """
    der = _der(contents) or b""
    signed_data = _sm2_signed_data(der)
    try:
        if signed_data is not None:
            if _is_timestamp(signed_data):
                return None
            info = signed_data["signer_infos"][0]
            token, value = cms_timestamp_token(info), info["signature"].native
            embedded = [c.chosen for c in signed_data["certificates"] or () if c.name == "certificate"]
            context.certificate_registry.register_multiple(embedded)  # the TSA's CA may be among them
        else:
            signature = ses.parse_signature(der)
            token, value = ses_timestamp_token(signature), signature["signature"].native
    except (EsignError, ValueError, TypeError, KeyError, IndexError):
        return None
    if token is None or not (await check_timestamp(token, value, context)).passed:
        return None
    return gen_time(token)


async def _verify_document_timestamp(
    der: bytes, signed_data: cms.SignedData, document: SignedContent, context: ValidationContext
) -> GmResult:
    """A document timestamp: its imprint is the document digest (integrity), and the TSA must have
    signed it with a trusted timeStamping certificate — not an SM2 CMS signature over signed attributes,
    whose messageDigest would never match the ByteRange (that was reported as DIGEST_MISMATCH)."""
    tst_info = signed_data["encap_content_info"]["content"].parsed
    imprint = tst_info["message_imprint"]
    digest = content_digest(document, imprint["hash_algorithm"]["algorithm"].native)
    if digest != imprint["hashed_message"].native:
        integrity = failed(Check.DOCUMENT_HASH, FindingCode.DIGEST_MISMATCH)
        tsa = CheckResult(Check.TIMESTAMP, None, detail="not judged: the document changed")
    else:
        integrity = CheckResult(Check.DOCUMENT_HASH, True)
        tsa = await check_timestamp(der, document, context)
    signer = find_certificate(signed_data, signed_data["signer_infos"][0]["sid"])
    checks = (CheckResult(Check.STRUCTURE, True), integrity, tsa)
    return GmResult(RFC3161_SM2, checks, signer, gen_time(der) if tsa.passed else None)


def _is_timestamp(signed_data: cms.SignedData) -> bool:
    return signed_data["encap_content_info"]["content_type"].native == "tst_info"


def _der(contents: bytes) -> bytes | None:
    """The DER value at the start of /Contents, without the zero padding PDF writers append."""
    try:
        _, _, _, header, body, _ = parser.parse(contents)
    except (ValueError, TypeError):
        return None
    return header + body


def _sm2_signed_data(der: bytes) -> cms.SignedData | None:
    try:
        info = cms.ContentInfo.load(der)
        if info["content_type"].native != "signed_data":
            return None
        signed_data = info["content"]
        infos = signed_data["signer_infos"]
        return signed_data if len(infos) >= 1 and is_sm2_signer_info(infos[0]) else None
    except (ValueError, TypeError, KeyError, IndexError, OverflowError):
        return None
