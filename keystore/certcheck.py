"""Is this certificate fit to back this seal? The checks run at registration and at rotation.

A seal is the organisation's promise; its certificate must name the same organisation, allow
signing, and be valid for the whole time the seal may be used — otherwise every document sealed
near the end of the seal's window would carry a signature that fails validation.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from asn1crypto import x509

from esign.errors import ErrorCode, EsignError
from esign.seal.signers import check_signing_certificate
from esign.uscc import find_uscc

__all__ = [
    "CertOrganisation",
    "certificate_organisation",
    "certificate_validity",
    "check_seal_certificate",
    "describe_organisation",
]


@dataclass(frozen=True)
class CertOrganisation:
    name: str | None
    uscc: str | None


def certificate_organisation(cert: x509.Certificate) -> CertOrganisation:
    """The organisation name (O) and USCC (organizationIdentifier, else serialNumber) of the subject."""
    subject = cert.subject.native
    uscc = None
    for attribute in ("organization_identifier", "serial_number"):
        value = subject.get(attribute)
        if isinstance(value, str) and (uscc := find_uscc(value)):
            break
    name = subject.get("organization_name")
    return CertOrganisation(name=name if isinstance(name, str) else None, uscc=uscc)


def describe_organisation(org: CertOrganisation) -> str:
    """``name / USCC`` for messages, whatever part the certificate has."""
    return " / ".join(part for part in (org.name, org.uscc) if part) or "?"


def certificate_validity(cert: x509.Certificate) -> tuple[datetime, datetime]:
    validity = cert["tbs_certificate"]["validity"]
    return validity["not_before"].native, validity["not_after"].native


def check_seal_certificate(
    cert: x509.Certificate,
    *,
    org_name: str,
    uscc: str,
    valid_from: datetime,
    valid_to: datetime,
    now: datetime,
) -> None:
    """Raise the first reason why ``cert`` cannot back the seal.

    The organisation matches only when the certificate's USCC equals the seal's. A certificate
    without a USCC never matches: its organisation name is whatever text the CA wrote, and a
    caller could name any organisation to match it (the platform's own audit key, for one).
    A *different* USCC never matches either, even under the same name (names repeat across
    regions, codes do not).
    """
    check_signing_certificate(cert, now)
    org = certificate_organisation(cert)
    if org.uscc is None or org.uscc != uscc:
        raise EsignError(
            ErrorCode.SEAL_ORG_MISMATCH, cert_org=describe_organisation(org), seal_org=f"{org_name} / {uscc}"
        )
    not_before, not_after = certificate_validity(cert)
    if not (not_before <= valid_from < valid_to <= not_after):
        raise EsignError(
            ErrorCode.SEAL_VALIDITY_OUTSIDE_CERT,
            not_before=not_before.isoformat(),
            not_after=not_after.isoformat(),
        )
