"""The verification report: plain values, and the stable JSON shape documented in docs/report.md.

Renderers (text, ETSI XML, web) and the conformance runner read :meth:`Report.to_dict`, so that dict
is the contract: keys are never renamed or removed without bumping ``SCHEMA_VERSION``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, Literal

from esign.findings import Finding

SCHEMA_VERSION = 1


class Indication(StrEnum):
    """EN 319 102-1 main indications, plus the document-level NO_SIGNATURE_FOUND."""

    TOTAL_PASSED = "TOTAL_PASSED"
    TOTAL_FAILED = "TOTAL_FAILED"
    INDETERMINATE = "INDETERMINATE"
    NO_SIGNATURE_FOUND = "NO_SIGNATURE_FOUND"

    @property
    def rank(self) -> int:
        """Worse is higher; the document takes the worst indication over its signatures."""
        return _RANK[self]


_RANK = {
    Indication.NO_SIGNATURE_FOUND: 0,
    Indication.TOTAL_PASSED: 1,
    Indication.INDETERMINATE: 2,
    Indication.TOTAL_FAILED: 3,
}


class SubIndication(StrEnum):
    """The EN 319 102-1 sub-indications, spelled as DSS spells them."""

    FORMAT_FAILURE = "FORMAT_FAILURE"
    HASH_FAILURE = "HASH_FAILURE"
    SIG_CRYPTO_FAILURE = "SIG_CRYPTO_FAILURE"
    REVOKED = "REVOKED"
    SIG_CONSTRAINTS_FAILURE = "SIG_CONSTRAINTS_FAILURE"
    CHAIN_CONSTRAINTS_FAILURE = "CHAIN_CONSTRAINTS_FAILURE"
    CERTIFICATE_CHAIN_GENERAL_FAILURE = "CERTIFICATE_CHAIN_GENERAL_FAILURE"
    CRYPTO_CONSTRAINTS_FAILURE = "CRYPTO_CONSTRAINTS_FAILURE"
    EXPIRED = "EXPIRED"
    NOT_YET_VALID = "NOT_YET_VALID"
    POLICY_PROCESSING_ERROR = "POLICY_PROCESSING_ERROR"
    SIGNATURE_POLICY_NOT_AVAILABLE = "SIGNATURE_POLICY_NOT_AVAILABLE"
    TIMESTAMP_ORDER_FAILURE = "TIMESTAMP_ORDER_FAILURE"
    NO_SIGNING_CERTIFICATE_FOUND = "NO_SIGNING_CERTIFICATE_FOUND"
    NO_CERTIFICATE_CHAIN_FOUND = "NO_CERTIFICATE_CHAIN_FOUND"
    REVOKED_NO_POE = "REVOKED_NO_POE"
    REVOKED_CA_NO_POE = "REVOKED_CA_NO_POE"
    OUT_OF_BOUNDS_NO_POE = "OUT_OF_BOUNDS_NO_POE"
    OUT_OF_BOUNDS_NOT_REVOKED = "OUT_OF_BOUNDS_NOT_REVOKED"
    REVOCATION_OUT_OF_BOUNDS_NO_POE = "REVOCATION_OUT_OF_BOUNDS_NO_POE"
    CRYPTO_CONSTRAINTS_FAILURE_NO_POE = "CRYPTO_CONSTRAINTS_FAILURE_NO_POE"
    NO_POE = "NO_POE"
    TRY_LATER = "TRY_LATER"
    SIGNED_DATA_NOT_FOUND = "SIGNED_DATA_NOT_FOUND"


SignatureKind = Literal["signature", "document_timestamp", "unsupported"]
Integrity = Literal["ok", "broken", "unknown"]
Crypto = Literal["ok", "failed", "unknown"]
Chain = Literal["trusted", "untrusted", "revoked", "expired", "not_yet_valid", "unknown"]
Coverage = Literal["entire_file", "entire_revision", "partial", "unknown"]
Modifications = Literal["none", "permitted", "suspicious", "unknown"]
ConditionStatus = Literal["met", "not_met", "undetermined"]
Reliability = Literal["reliable", "not_reliable", "undetermined"]

#: The four conditions of PRC Electronic Signature Law art. 13, in the order the law lists them.
CONDITIONS = (
    "exclusive_to_signer",
    "sole_control",
    "signature_change_detectable",
    "content_change_detectable",
)


@dataclass(frozen=True)
class SignerIdentity:
    """Who the signing certificate names; ``uscc``: the 统一社会信用代码 if the certificate has one."""

    subject: str = ""
    organization: str = ""
    uscc: str | None = None
    issuer: str = ""
    serial: str = ""
    sha256: str = ""
    #: how a report names the signer: the seal holder's CN for an SM2 (GM/T 0015) certificate, else O
    name: str = ""


@dataclass(frozen=True)
class Checks:
    integrity: Integrity = "unknown"
    crypto: Crypto = "unknown"
    chain: Chain = "unknown"
    coverage: Coverage = "unknown"
    modifications: Modifications = "unknown"


@dataclass(frozen=True)
class Condition:
    status: ConditionStatus
    findings: tuple[str, ...] = ()


@dataclass(frozen=True)
class ReliableSignature:
    """The art. 13 verdict: four conditions, and their conjunction."""

    verdict: Reliability
    conditions: dict[str, Condition]

    def to_dict(self) -> dict[str, Any]:
        return {
            "verdict": self.verdict,
            "conditions": {
                name: {"status": cond.status, "findings": list(cond.findings)}
                for name, cond in self.conditions.items()
            },
        }


@dataclass(frozen=True)
class SignatureResult:
    index: int
    field: str
    kind: SignatureKind
    subfilter: str | None
    format: str
    signed_by: SignerIdentity | None
    claimed_signing_time: datetime | None
    best_signature_time: datetime | None
    indication: Indication
    subindication: SubIndication | None
    checks: Checks
    reliable_esignature: ReliableSignature
    findings: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "field": self.field,
            "kind": self.kind,
            "subfilter": self.subfilter,
            "format": self.format,
            "signed_by": None if self.signed_by is None else _identity_dict(self.signed_by),
            "claimed_signing_time": _iso(self.claimed_signing_time),
            "best_signature_time": _iso(self.best_signature_time),
            "indication": self.indication.value,
            "subindication": None if self.subindication is None else self.subindication.value,
            "checks": {
                "integrity": self.checks.integrity,
                "crypto": self.checks.crypto,
                "chain": self.checks.chain,
                "coverage": self.checks.coverage,
                "modifications": self.checks.modifications,
            },
            "reliable_esignature": self.reliable_esignature.to_dict(),
            "findings": list(self.findings),
        }


@dataclass(frozen=True)
class DocumentInfo:
    name: str
    sha256: str
    size: int
    pages: int | None
    revisions: int | None


@dataclass(frozen=True)
class Report:
    document: DocumentInfo
    indication: Indication
    signatures: tuple[SignatureResult, ...]
    findings: tuple[Finding, ...]
    policy: str = "default"
    validation_time: datetime | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema_version": SCHEMA_VERSION,
            "document": {
                "name": self.document.name,
                "sha256": self.document.sha256,
                "size": self.document.size,
                "pages": self.document.pages,
                "revisions": self.document.revisions,
            },
            "policy": self.policy,
            "validation_time": _iso(self.validation_time),
            "indication": self.indication.value,
            "signatures": [s.to_dict() for s in self.signatures],
            "findings": [f.to_dict() for f in self.findings],
        }

    def to_json(self, *, indent: int | None = None) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False, indent=indent)


def worst_indication(signatures: tuple[SignatureResult, ...]) -> Indication:
    """Worst indication over the signatures; document timestamps are not signatures (EN 319 102-1)."""
    approval = [s.indication for s in signatures if s.kind != "document_timestamp"]
    if not approval:
        return Indication.NO_SIGNATURE_FOUND
    return max(approval, key=lambda i: i.rank)


def _identity_dict(who: SignerIdentity) -> dict[str, Any]:
    return {
        "subject": who.subject,
        "organization": who.organization,
        "uscc": who.uscc,
        "name": who.name,
        "issuer": who.issuer,
        "serial": who.serial,
        "sha256": who.sha256,
    }


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()
