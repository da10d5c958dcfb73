"""Verification of a seal signature (``SES_Signature``) in the order GB/T 38540-2020 §8.2 gives.

1. the signature value (SM2 over ``TBS_Sign``, or the version-1 equivalent);
2. the signer's certificate is in the seal's ``certList`` (the signer may use this seal);
3. the seal: the maker's signature, the maker's certificate chain, the seal's validity window at the
   signing time;
4. the signer's certificate: validity and chain (pyhanko-certvalidator with SM2, see :mod:`esign.gm.certs`);
5. the document hash (SM3 of the protected bytes against ``dataHash``);
6. the timestamp over the signature value, if present.

Every step runs even after a failure, because intake staff must tell the applicant every defect at
once; each step yields one :class:`CheckResult` with a :class:`~esign.findings.FindingCode` when it
fails. The result is a value, not an exception, so the PDF verifier can map it into its report.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum

from asn1crypto import cms, tsp, x509
from asn1crypto.algos import DSASignature
from pyhanko_certvalidator import ValidationContext
from pyhanko_certvalidator.errors import PathBuildingError, PathValidationError, RevokedError

from esign.errors import EsignError
from esign.findings import FindingCode
from esign.gm import certs, oids, ses, sm2


class Check(StrEnum):
    """The standard's verification steps, in its order."""

    SIGNATURE_VALUE = "signature_value"
    SIGNER_IN_SEAL = "signer_in_seal_cert_list"
    SEAL_MAKER_SIGNATURE = "seal_maker_signature"
    SEAL_MAKER_CHAIN = "seal_maker_certificate"
    SEAL_VALIDITY = "seal_validity_window"
    SIGNER_CHAIN = "signer_certificate"
    DOCUMENT_HASH = "document_hash"
    TIMESTAMP = "timestamp"


@dataclass(frozen=True)
class CheckResult:
    """``passed`` is None when the check could not be made (no document given, no timestamp present)."""

    check: Check
    passed: bool | None
    finding: FindingCode | None = None
    detail: str = ""


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
    document: bytes | None = None,
    distinguishing_id: bytes = sm2.DEFAULT_ID,
) -> SesVerification:
    """Verify ``der`` (an ``SES_Signature``); ``document`` is the protected content (e.g. the ByteRange
    bytes) whose SM3 digest must equal ``dataHash``. ``context`` should come from
    :func:`esign.gm.certs.validation_context` (it carries the SM2 trust anchors and CRLs).
    """
    try:
        signature = ses.parse_signature(der)
        signer_der, algorithm, value = ses.signature_signer(signature)
        signer = x509.Certificate.load(signer_der)
        _ = signer.native
    except (EsignError, ValueError, TypeError) as exc:
        failed = CheckResult(Check.SIGNATURE_VALUE, False, FindingCode.SES_STRUCTURE_INVALID, str(exc)[:200])
        return SesVerification(format="GBT38540", checks=(failed,))

    tbs = signature["to_sign"]
    seal = tbs["eseal"]
    seal_info = seal["e_seal_info"]
    version = ses.seal_version(seal)
    signing_time = _signing_time(tbs["time_info"])
    checks = [
        _check_signature_value(signer, algorithm, value, tbs.dump(), distinguishing_id),
        _check_signer_in_seal(signer_der, seal_info["property"]),
        _check_maker_signature(seal),
        await _check_chain(
            Check.SEAL_MAKER_CHAIN, x509.Certificate.load(ses.seal_maker_signature(seal)[0]), context
        ),
        _check_seal_validity(seal_info["property"], signing_time),
        await _check_chain(Check.SIGNER_CHAIN, signer, context),
        _check_document_hash(tbs["data_hash"].native, document),
        _check_timestamp(signature, value),
    ]
    return SesVerification(
        format=("GMT0031-v1" if version == 1 else f"GBT38540-v{version}"),
        checks=tuple(checks),
        signing_time=signing_time,
        seal_name=seal_info["property"]["name"].native,
        seal_id=seal_info["es_id"].native,
        property_info=tbs["property_info"].native,
        signer=signer,
    )


def _check_signature_value(
    cert: x509.Certificate, algorithm: str, value: bytes, signed: bytes, distinguishing_id: bytes
) -> CheckResult:
    if algorithm not in oids.SM2_SIGNATURE_OIDS:
        return CheckResult(
            Check.SIGNATURE_VALUE, False, FindingCode.SIGNATURE_VALUE_INVALID, f"algorithm {algorithm}"
        )
    if not _sm2_verify(cert, value, signed, distinguishing_id):
        return CheckResult(Check.SIGNATURE_VALUE, False, FindingCode.SIGNATURE_VALUE_INVALID)
    return CheckResult(Check.SIGNATURE_VALUE, True)


def _check_signer_in_seal(
    signer_der: bytes, prop: ses.SESPropertyInfo | ses.SESPropertyInfoV1
) -> CheckResult:
    listed = signer_der in prop.certificates() or any(
        _digest(name, signer_der) == value for name, value in prop.cert_digests()
    )
    if not listed:
        return CheckResult(Check.SIGNER_IN_SEAL, False, FindingCode.SES_SIGNER_NOT_IN_SEAL)
    return CheckResult(Check.SIGNER_IN_SEAL, True)


def _check_maker_signature(seal: ses.AnySeal) -> CheckResult:
    maker_der, algorithm, value = ses.seal_maker_signature(seal)
    try:
        maker = x509.Certificate.load(maker_der)
        ok = algorithm in oids.SM2_SIGNATURE_OIDS and _sm2_verify(maker, value, ses.seal_signed_bytes(seal))
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


async def _check_chain(check: Check, cert: x509.Certificate, context: ValidationContext) -> CheckResult:
    try:
        await certs.validate_signer_chain(cert, context)
    except RevokedError as exc:
        return CheckResult(check, False, FindingCode.CERTIFICATE_REVOKED, str(exc)[:300])
    except PathBuildingError as exc:
        return CheckResult(check, False, FindingCode.CHAIN_UNTRUSTED, str(exc)[:300])
    except PathValidationError as exc:
        return CheckResult(check, False, FindingCode.CHAIN_INVALID, str(exc)[:300])
    except (ValueError, TypeError) as exc:  # a certificate asn1crypto or certvalidator cannot digest
        return CheckResult(check, False, FindingCode.CHAIN_INVALID, str(exc)[:300])
    return CheckResult(check, True)


def _check_document_hash(data_hash: bytes, document: bytes | None) -> CheckResult:
    if document is None:
        return CheckResult(Check.DOCUMENT_HASH, None, detail="no document given")
    if sm2.sm3(document) != data_hash:
        return CheckResult(Check.DOCUMENT_HASH, False, FindingCode.DIGEST_MISMATCH)
    return CheckResult(Check.DOCUMENT_HASH, True)


def _check_timestamp(signature: ses.AnySignature, value: bytes) -> CheckResult:
    """The token's message imprint must be the hash of the signature value (GB/T 38540 §7.3).

    The TSA's own signature and trust are not judged here: that is the PDF verifier's timestamp path.
    """
    token_bits = signature["time_stamp"].native if "time_stamp" in signature else None
    if token_bits is None:
        return CheckResult(Check.TIMESTAMP, None, detail="no timestamp")
    try:
        token = cms.ContentInfo.load(token_bits)
        tst_info = token["content"]["encap_content_info"]["content"].parsed
        imprint = tst_info["message_imprint"]
        expected = _digest(imprint["hash_algorithm"]["algorithm"].native, value)
        matches = expected == imprint["hashed_message"].native
    except (ValueError, TypeError, KeyError) as exc:
        return CheckResult(Check.TIMESTAMP, False, FindingCode.TIMESTAMP_INVALID, str(exc)[:200])
    if not matches:
        return CheckResult(Check.TIMESTAMP, False, FindingCode.TIMESTAMP_INVALID, "imprint mismatch")
    gen_time = tst_info["gen_time"].native if isinstance(tst_info, tsp.TSTInfo) else None
    return CheckResult(Check.TIMESTAMP, True, detail=f"time {gen_time}")


def _sm2_verify(
    cert: x509.Certificate, value: bytes, signed: bytes, distinguishing_id: bytes = sm2.DEFAULT_ID
) -> bool:
    try:
        key = sm2.load_public_key(cert.public_key.dump())
    except sm2.SM2Error:
        return False
    return sm2.verify(key, _der_signature(value), signed, distinguishing_id)


def _der_signature(value: bytes) -> bytes:
    """Some producers store raw ``r || s`` (64 bytes) instead of DER; accept both."""
    if len(value) != 64:
        return value
    return DSASignature.from_p1363(value).dump()


def _digest(name: str, data: bytes) -> bytes | None:
    """A digest by the name a certDigestList or timestamp uses; None for an unknown name."""
    normalized = name.lower().replace("-", "")
    if normalized in {"sm3", oids.SM3}:
        return sm2.sm3(data)
    try:
        return hashlib.new(normalized, data).digest()
    except ValueError:
        return None


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
