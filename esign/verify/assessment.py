"""What validation finds out about one signature slot, and the document times it is judged against.

Kept apart from :mod:`esign.verify.validation` because the pipeline, the CMS judgements and the
validation steps all build or read these values.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from esign.findings import Finding, FindingCode
from esign.report.model import (
    Chain,
    Coverage,
    Crypto,
    Indication,
    Integrity,
    SignatureKind,
    SignerIdentity,
    SubIndication,
)
from esign.verify.signatures import SignatureSlot


@dataclass
class Assessment:
    """What validation found out about one slot (mutable while it is being built)."""

    index: int
    slot: SignatureSlot
    kind: SignatureKind = "signature"
    format: str = "unknown"
    signed_by: SignerIdentity | None = None
    claimed_signing_time: datetime | None = None
    best_signature_time: datetime | None = None
    integrity: Integrity = "unknown"
    crypto: Crypto = "unknown"
    chain: Chain = "unknown"
    coverage: Coverage = "unknown"
    signed_end: int | None = None
    #: proven time of a document timestamp (valid, trusted): POE for everything it covers
    proven_time: datetime | None = None
    timestamped: bool = False
    revocation_data: bool = False
    findings: list[Finding] = field(default_factory=list)
    _verdicts: list[tuple[Indication, SubIndication]] = field(default_factory=list)

    def note(self, code: FindingCode, detail: str = "", detail_zh: str = "") -> None:
        self.findings.append(Finding(code, self.index, detail, detail_zh))

    def fail(self, code: FindingCode, indication: Indication, sub: SubIndication, detail: str = "") -> None:
        self.note(code, detail)
        self.fail_verdict(indication, sub)

    def fail_verdict(self, indication: Indication, sub: SubIndication) -> None:
        self._verdicts.append((indication, sub))

    @property
    def verdict(self) -> tuple[Indication, SubIndication | None]:
        if not self._verdicts:
            return Indication.TOTAL_PASSED, None
        worst = max(self._verdicts, key=lambda v: v[0].rank)[0]
        return worst, next(sub for ind, sub in self._verdicts if ind is worst)


@dataclass(frozen=True)
class DocumentTimes:
    validation_time: datetime
    #: (end of signed revision, proven time) of each valid, trusted document timestamp
    doc_timestamps: tuple[tuple[int, datetime], ...] = ()

    def covering(self, signed_end: int | None) -> datetime | None:
        """Earliest proven document timestamp over a later revision than ``signed_end``."""
        if signed_end is None:
            return None
        times = [t for end, t in self.doc_timestamps if end > signed_end]
        return min(times, default=None)
