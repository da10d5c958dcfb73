"""The result model of the change analysis (re-exported by :mod:`esign.verify.modifications.analysis`).

Kept apart so the judging modules can build findings without importing the orchestrator.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

ChangeStatus = Literal["none", "permitted", "suspicious", "unknown"]


@dataclass(frozen=True)
class ChangeFinding:
    """One observation; ``code`` is a member name of :class:`esign.findings.FindingCode`."""

    code: str
    permitted: bool
    pages: tuple[int, ...] = ()
    detail: str = ""


@dataclass(frozen=True)
class ChangeAnalysis:
    status: ChangeStatus
    findings: tuple[ChangeFinding, ...]
