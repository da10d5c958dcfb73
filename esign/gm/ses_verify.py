"""Verification of a seal signature (``SES_Signature``) in the order GB/T 38540-2020 §8.2 gives.

1. the signature value (SM2 over ``TBS_Sign``, or the version-1 equivalent);
2. the signer's certificate is in the seal's ``certList`` (the signer may use this seal);
3. the seal: the maker's signature, the maker's certificate chain, the seal's validity window at the
   signing time;
4. the signer's certificate: validity and chain (pyhanko-certvalidator with SM2, see :mod:`esign.gm.certs`);
5. the document hash (SM3 of the protected bytes against ``dataHash``);
6. the timestamp over the signature value, if present: TSA signature, chain and EKU too
   (:mod:`esign.gm.timestamps`); a version-5 seal's own timestamp likewise.

Every step runs even after a failure, because intake staff must tell the applicant every defect at
once; each step yields one :class:`CheckResult` with a :class:`~esign.findings.FindingCode` when it
fails. The result is a value, not an exception, so the PDF verifier can map it into its report.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from asn1crypto import x509
from pyhanko_certvalidator import ValidationContext

from esign.errors import EsignError
from esign.findings import FindingCode
from esign.gm import oids, ses, sm2
from esign.gm.checks import (
    Check,
    CheckResult,
    SignedContent,
    check_chain,
    content_digest,
    failed,
    sm2_verify_with_cert,
)
from esign.gm.timestamps import check_timestamp

__all__ = [
    "Check",
    "CheckResult",
    "SesVerification",
    "timestamp_token",
    "verify_ses_seal",
    "verify_ses_signature",
]


@dataclass(frozen=True)
class SesVerification:
    """The outcome for one ``SES_Signature``: format name, what it claims, and each check."""

    format: str  # "GBT38540-v4", "GBT38540-v5", "GMT0031-v1"
    checks: tuple[CheckResult, ...]
    signing_time: datetime | None = None
    seal_name: str = ""
    seal_id: str = ""
    property_info: str = ""
    signer: x509.Certificate | None = None

    @property
    def valid(self) -> bool:
        """True when no check failed (checks that could not run do not count as failures)."""
        return all(c.passed is not False for c in self.checks)

    @property
    def findings(self) -> list[FindingCode]:
        return [c.finding for c in self.checks if c.finding is not None]

    def result(self, check: Check) -> CheckResult:
        return next(c for c in self.checks if c.check is check)


async def verify_ses_signature(
    der: bytes,
    context: ValidationContext,
    document: SignedContent | None = None,
    distinguishing_id: bytes = sm2.DEFAULT_ID,
) -> SesVerification:
    """Verify ``der`` (an ``SES_Signature``); ``document`` is the protected content (e.g. the ByteRange
    bytes, or a function hashing them) whose SM3 digest must equal ``dataHash``. ``context`` should come from
    :func:`esign.gm.certs.validation_context` (it carries the SM2 trust anchors and CRLs).
    """
    try:
        signature = ses.parse_signature(der)
        signer_der, algorithm, value = ses.signature_signer(signature)
        signer = x509.Certificate.load(signer_der)
        _ = signer.native
    except (EsignError, ValueError, TypeError) as exc:
        broken = failed(Check.STRUCTURE, FindingCode.SES_STRUCTURE_INVALID, str(exc))
        return SesVerification(format="GBT38540", checks=(broken,))

    tbs = signature["to_sign"]
    seal = tbs["eseal"]
    seal_info = seal["e_seal_info"]
    version = ses.seal_version(seal)
    signing_time = _signing_time(tbs["time_info"])
    checks = [
        _check_versions(tbs["version"].native, version),
        _check_signature_value(signer, algorithm, value, tbs.dump(), distinguishing_id),
        _check_signer_in_seal(signer_der, seal_info["property"]),
        _check_maker_signature(seal),
        await check_chain(
            Check.SEAL_MAKER_CHAIN, x509.Certificate.load(ses.seal_maker_signature(seal)[0]), context
        ),
        _check_seal_validity(seal_info["property"], signing_time),
        await check_chain(Check.SIGNER_CHAIN, signer, context),
        _check_document_hash(tbs["data_hash"].native, document),
        await check_timestamp(timestamp_token(signature), value, context),
    ]
    if version == 5:
        # GM/T 0031-2025: a version-5 seal may carry its own timestamp over the maker's signature
        maker_value = ses.seal_maker_signature(seal)[2]
        checks.append(
            await check_timestamp(timestamp_token(seal), maker_value, context, Check.SEAL_TIMESTAMP)
        )
    else:
        checks.append(CheckResult(Check.SEAL_TIMESTAMP, None, detail=f"a version-{version} seal has none"))
    return SesVerification(
        format=("GMT0031-v1" if version == 1 else f"GBT38540-v{version}"),
        checks=tuple(checks),
        signing_time=signing_time,
        seal_name=seal_info["property"]["name"].native,
        seal_id=seal_info["es_id"].native,
        property_info=tbs["property_info"].native,
        signer=signer,
    )


async def verify_ses_seal(der: bytes, context: ValidationContext, moment: datetime) -> SesVerification:
    """Verify ``der`` (an ``SESeal`` on its own, an ``.esl`` file): the maker's signature, the maker's
    chain and the validity window at ``moment`` (a seal outside it cannot be used now); a version-5
    seal's own timestamp too. The ``certList`` is not judged: the seal names who may use it."""
    try:
        seal = ses.parse_seal(der)
        maker = x509.Certificate.load(ses.seal_maker_signature(seal)[0])
        _ = maker.native
    except (EsignError, ValueError, TypeError) as exc:
        broken = failed(Check.STRUCTURE, FindingCode.SES_STRUCTURE_INVALID, str(exc))
        return SesVerification(format="GBT38540", checks=(broken,))
    version = ses.seal_version(seal)
    info = seal["e_seal_info"]
    window = _check_seal_validity(info["property"], moment)
    if window.passed is False:
        window = failed(Check.SEAL_VALIDITY, FindingCode.SES_SEAL_OUTSIDE_VALIDITY_NOW, window.detail)
    checks = [
        CheckResult(Check.STRUCTURE, True, detail=f"version {version}"),
        _check_maker_signature(seal),
        await check_chain(Check.SEAL_MAKER_CHAIN, maker, context),
        window,
    ]
    if version == 5:
        maker_value = ses.seal_maker_signature(seal)[2]
        checks.append(
            await check_timestamp(timestamp_token(seal), maker_value, context, Check.SEAL_TIMESTAMP)
        )
    return SesVerification(
        format=("GMT0031-v1" if version == 1 else f"GBT38540-v{version}"),
        checks=tuple(checks),
        seal_name=info["property"]["name"].native,
        seal_id=info["es_id"].native,
    )


def _check_versions(tbs_version: object, seal_version: int) -> CheckResult:
    """TBS_Sign.version must be the seal's version: a v4 signature around a v5 seal (or the reverse) is
    a structure no conforming producer writes, and its fields would be read with the wrong layout."""
    if seal_version != 1 and tbs_version != seal_version:
        detail = f"TBS_Sign version {tbs_version}, seal version {seal_version}"
        return failed(Check.STRUCTURE, FindingCode.SES_STRUCTURE_INVALID, detail)
    return CheckResult(Check.STRUCTURE, True, detail=f"version {seal_version}")


def timestamp_token(structure: ses.AnySignature | ses.AnySeal) -> bytes | None:
    """The optional ``timeStamp`` [0] of a v4/v5 signature or v5 seal (absent in version 1)."""
    if "time_stamp" not in structure or structure["time_stamp"].native is None:
        return None
    return structure["time_stamp"].native


def _check_signature_value(
    cert: x509.Certificate, algorithm: str, value: bytes, signed: bytes, distinguishing_id: bytes
) -> CheckResult:
    if algorithm not in oids.SM2_SIGNATURE_OIDS:
        return CheckResult(
            Check.SIGNATURE_VALUE, False, FindingCode.SIGNATURE_VALUE_INVALID, f"algorithm {algorithm}"
        )
    if not sm2_verify_with_cert(cert, value, signed, distinguishing_id):
        return CheckResult(Check.SIGNATURE_VALUE, False, FindingCode.SIGNATURE_VALUE_INVALID)
    return CheckResult(Check.SIGNATURE_VALUE, True)


def _check_signer_in_seal(
    signer_der: bytes, prop: ses.SESPropertyInfo | ses.SESPropertyInfoV1
) -> CheckResult:
    listed = signer_der in prop.certificates() or any(
        content_digest(signer_der, name) == value for name, value in prop.cert_digests()
    )
    if not listed:
        return CheckResult(Check.SIGNER_IN_SEAL, False, FindingCode.SES_SIGNER_NOT_IN_SEAL)
    return CheckResult(Check.SIGNER_IN_SEAL, True)


def _check_maker_signature(seal: ses.AnySeal) -> CheckResult:
    maker_der, algorithm, value = ses.seal_maker_signature(seal)
    try:
        maker = x509.Certificate.load(maker_der)
        ok = algorithm in oids.SM2_SIGNATURE_OIDS and sm2_verify_with_cert(
            maker, value, ses.seal_signed_bytes(seal)
        )
    except ValueError as exc:
        return CheckResult(
            Check.SEAL_MAKER_SIGNATURE, False, FindingCode.SES_SEAL_SIGNATURE_INVALID, str(exc)
        )
    if not ok:
        return CheckResult(Check.SEAL_MAKER_SIGNATURE, False, FindingCode.SES_SEAL_SIGNATURE_INVALID)
    return CheckResult(Check.SEAL_MAKER_SIGNATURE, True)


def _check_seal_validity(
    prop: ses.SESPropertyInfo | ses.SESPropertyInfoV1, signing_time: datetime | None
) -> CheckResult:
    start, end = prop["valid_start"].native, prop["valid_end"].native
    window = f"{start:%Y-%m-%d %H:%M:%S} – {end:%Y-%m-%d %H:%M:%S} UTC"
    if signing_time is None:
        return CheckResult(Check.SEAL_VALIDITY, None, detail=f"no readable signing time; seal valid {window}")
    if not start <= signing_time <= end:
        return CheckResult(Check.SEAL_VALIDITY, False, FindingCode.SES_SEAL_OUTSIDE_VALIDITY, window)
    return CheckResult(Check.SEAL_VALIDITY, True, detail=window)


def _check_document_hash(data_hash: bytes, document: SignedContent | None) -> CheckResult:
    if document is None:
        return CheckResult(Check.DOCUMENT_HASH, None, detail="no document given")
    if content_digest(document, "sm3") != data_hash:
        return CheckResult(Check.DOCUMENT_HASH, False, FindingCode.DIGEST_MISMATCH)
    return CheckResult(Check.DOCUMENT_HASH, True)


def _signing_time(time_info: object) -> datetime | None:
    """Version 4/5 carry a GeneralizedTime; version 1 a BIT STRING holding UTCTime text (or a token)."""
    native = getattr(time_info, "native", None)
    if isinstance(native, datetime):
        return native
    if isinstance(native, bytes):
        for layout in ("%y%m%d%H%M%SZ", "%Y%m%d%H%M%SZ"):
            try:
                return datetime.strptime(native.decode("ascii"), layout).replace(tzinfo=UTC)
            except (UnicodeDecodeError, ValueError):
                continue
    return None
