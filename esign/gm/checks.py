"""The check model shared by both Chinese signature formats (GB/T 38540 seals and SM2 CMS).

A verification is a list of named checks, each passed / failed / not made, with the finding a failure
reports. Both verifiers (:mod:`esign.gm.ses_verify`, :mod:`esign.gm.cms_verify`) speak this model, so
:mod:`esign.verify.gm` turns either into one EN 319 102-1 verdict the same way.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from asn1crypto import cms, x509
from asn1crypto.algos import DSASignature
from pyhanko_certvalidator import ValidationContext
from pyhanko_certvalidator.errors import (
    ExpiredError,
    InvalidCertificateError,
    NotYetValidError,
    PathBuildingError,
    PathValidationError,
    RevokedError,
)

from esign.findings import FindingCode
from esign.gm import certs, oids, sm2

_DETAIL = 300

#: What a signature protects: the bytes themselves, or a function giving their digest by algorithm name
#: (the PDF verifier hashes the ByteRange straight from the file, without joining it into a copy).
SignedContent = bytes | Callable[[str], bytes]


class Check(StrEnum):
    """Verification steps; GB/T 38540 §8.2 fixes their order for seals, CMS uses the subset it has."""

    STRUCTURE = "structure"
    SIGNATURE_VALUE = "signature_value"
    SIGNER_IN_SEAL = "signer_in_seal_cert_list"
    SEAL_MAKER_SIGNATURE = "seal_maker_signature"
    SEAL_MAKER_CHAIN = "seal_maker_certificate"
    SEAL_VALIDITY = "seal_validity_window"
    SIGNER_CHAIN = "signer_certificate"
    DOCUMENT_HASH = "document_hash"
    TIMESTAMP = "timestamp"
    SEAL_TIMESTAMP = "seal_timestamp"


@dataclass(frozen=True)
class CheckResult:
    """``passed`` is None when the check could not be made (no document given, no timestamp present)."""

    check: Check
    passed: bool | None
    finding: FindingCode | None = None
    detail: str = ""
    #: when a chain check found the certificate revoked: the revocation time (to compare with signing time)
    revoked_at: datetime | None = None


def failed(check: Check, finding: FindingCode, detail: str = "") -> CheckResult:
    return CheckResult(check, False, finding, detail[:_DETAIL])


async def check_chain(check: Check, cert: x509.Certificate, context: ValidationContext) -> CheckResult:
    """Path validation of ``cert`` (SM2-aware context), with the reason mapped onto a finding code."""
    try:
        await certs.validate_signer_chain(cert, context)
    except RevokedError as exc:
        return CheckResult(
            check, False, FindingCode.CERTIFICATE_REVOKED, str(exc)[:_DETAIL], revoked_at=exc.revocation_dt
        )
    except ExpiredError as exc:
        return failed(check, FindingCode.CERTIFICATE_EXPIRED, str(exc))
    except NotYetValidError as exc:
        return failed(check, FindingCode.CERTIFICATE_NOT_YET_VALID, str(exc))
    except PathBuildingError as exc:
        return failed(check, FindingCode.CHAIN_UNTRUSTED, str(exc))
    except InvalidCertificateError as exc:
        return failed(check, FindingCode.KEY_USAGE_NOT_ALLOWED, str(exc))
    except (PathValidationError, ValueError, TypeError) as exc:  # includes certificates asn1crypto rejects
        return failed(check, FindingCode.CHAIN_INVALID, str(exc))
    return CheckResult(check, True)


def sm2_verify_with_cert(
    cert: x509.Certificate, value: bytes, signed: bytes, distinguishing_id: bytes = sm2.DEFAULT_ID
) -> bool:
    """SM2 verification with the certificate's key; a non-SM2 key simply does not verify."""
    try:
        key = sm2.load_public_key(cert.public_key.dump())
    except (sm2.SM2Error, ValueError):
        return False
    return sm2.verify(key, der_signature(value), signed, distinguishing_id)


def der_signature(value: bytes) -> bytes:
    """Some producers store raw ``r || s`` (64 bytes) instead of DER; accept both."""
    if len(value) != 64:
        return value
    return DSASignature.from_p1363(value).dump()


def content_digest(content: SignedContent, algorithm: str) -> bytes | None:
    """The digest of ``content`` under ``algorithm`` (a name or an OID); None for an unknown algorithm."""
    normalized = algorithm.lower().replace("-", "")
    if normalized == oids.SM3:
        normalized = "sm3"
    try:
        if callable(content):
            return content(normalized)
        if normalized == "sm3":
            return sm2.sm3(content)
        return hashlib.new(normalized, content).digest()
    except (ValueError, AttributeError):  # hashlib and pyca name unknown algorithms differently
        return None


def find_certificate(signed_data: cms.SignedData, sid: cms.SignerIdentifier) -> x509.Certificate | None:
    """The certificate of ``signed_data``'s certificates set that a SignerInfo's ``sid`` names."""
    for choice in signed_data["certificates"] or ():
        if choice.name != "certificate":
            continue
        cert = choice.chosen
        if sid.name == "issuer_and_serial_number":
            ids = sid.chosen
            if cert.issuer == ids["issuer"] and cert.serial_number == ids["serial_number"].native:
                return cert
        elif cert.key_identifier == sid.chosen.native:
            return cert
    return None
