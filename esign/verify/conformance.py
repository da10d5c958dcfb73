"""Conformance runner: verify every file of a corpus and compare our verdicts with its manifest.

A corpus is a directory with ``manifest.json`` (format of ``../shared/corpus/external/manifest.json``):
one entry per expectation, each naming a file, a signature (``sig_index``; null = every approval
signature, document timestamps not counted), trust anchors, a validation time and the expected values.
Expected ``null`` means "not asserted" and is skipped.

Disagreements that are understood are listed in a known-differences file (entry → field → reason);
any other disagreement, any crash and any *false pass* (a signature the corpus calls broken or modified
that we report intact, correctly signed and unmodified) makes the run fail.
"""

from __future__ import annotations

import json
import traceback
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

from esign.errors import EsignError

#: expectation fields compared, in report order; other manifest keys (notes, pyhanko_*) are informational
FIELDS = (
    "integrity",
    "crypto",
    "signature_ok",
    "trusted",
    "modified_after_signing",
    "dss_indication",
    "dss_subindication",
    "sig_count",
    "valid_sig_count",
    "valid_sig_count_min",
    "overall_valid",
)
#: per-signature expectations that a missing signature satisfies: we did not accept what is not there
_MET_BY_ABSENCE = {"integrity": "broken", "crypto": "failed", "signature_ok": False, "trusted": False}

Report = Mapping[str, Any]
VerifyFn = Callable[[bytes, Sequence[Path], datetime | None], Report]


@dataclass(frozen=True)
class Entry:
    """One manifest entry: what must hold for one signature (or all) of one file."""

    file: str
    sig_index: int | None
    trust_anchors: tuple[str, ...]
    validation_time: datetime | None
    expect: Mapping[str, Any]

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> Entry:
        return cls(
            file=raw["file"],
            sig_index=raw.get("sig_index"),
            trust_anchors=tuple(raw.get("trust_anchors") or ()),
            validation_time=_parse_time(raw.get("validation_time")),
            expect=raw.get("expect") or {},
        )

    @property
    def name(self) -> str:
        return self.file if self.sig_index is None else f"{self.file}#{self.sig_index}"

    def asserted(self) -> dict[str, Any]:
        return {name: self.expect[name] for name in FIELDS if self.expect.get(name) is not None}


def _parse_time(value: str | None) -> datetime | None:
    """Manifest times may be bare dates or lack a zone (pyHanko's tests freeze such times as UTC)."""
    if value is None:
        return None
    parsed = datetime.fromisoformat(value)
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


@dataclass(frozen=True)
class KnownDifference:
    file: str
    field: str
    reason: str
    sig_index: int | None = None
    any_signature: bool = True

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> KnownDifference:
        return cls(raw["file"], raw["field"], raw["reason"], raw.get("sig_index"), "sig_index" not in raw)

    def covers(self, entry: Entry, field_name: str) -> bool:
        same_signature = self.any_signature or self.sig_index == entry.sig_index
        return self.file == entry.file and self.field == field_name and same_signature


def load_known_differences(path: Path | None) -> list[KnownDifference]:
    if path is None or not path.is_file():
        return []
    return [KnownDifference.from_json(raw) for raw in json.loads(path.read_text(encoding="utf-8"))]


@dataclass(frozen=True)
class FieldOutcome:
    field: str
    expected: Any
    observed: Any
    agrees: bool
    known_reason: str | None = None

    @property
    def accepted(self) -> bool:
        return self.agrees or self.known_reason is not None


@dataclass(frozen=True)
class EntryResult:
    entry: Entry
    outcomes: tuple[FieldOutcome, ...]
    false_pass: bool = False
    crash: str | None = None


def _approval_signatures(report: Report) -> list[Mapping[str, Any]]:
    return [s for s in report.get("signatures") or () if s.get("kind") == "signature"]


def _signature_ok(sig: Mapping[str, Any]) -> bool:
    """Intact and cryptographically valid, and not definitively refused for breaking its own constraints.

    The last part matters for GB/T 38540 seals: a seal signature made by a certificate the seal does not
    list, or outside the seal's validity, verifies mathematically but is not a valid seal signature.
    """
    checks = sig.get("checks") or {}
    refused = (sig.get("indication"), sig.get("subindication")) == ("TOTAL_FAILED", "SIG_CONSTRAINTS_FAILURE")
    return checks.get("integrity") == "ok" and checks.get("crypto") == "ok" and not refused


def _modified(sig: Mapping[str, Any]) -> bool | None:
    level = (sig.get("checks") or {}).get("modifications")
    return None if level in (None, "unknown") else level == "suspicious"


_PER_SIGNATURE: dict[str, Callable[[Mapping[str, Any]], Any]] = {
    "integrity": lambda s: (s.get("checks") or {}).get("integrity"),
    "crypto": lambda s: (s.get("checks") or {}).get("crypto"),
    "signature_ok": _signature_ok,
    "trusted": lambda s: (s.get("checks") or {}).get("chain") == "trusted",
    "modified_after_signing": _modified,
    "dss_indication": lambda s: s.get("indication"),
    "dss_subindication": lambda s: s.get("subindication"),
}


def _matches(field_name: str, expected: Any, observed: Any) -> bool:
    if field_name == "dss_indication" and isinstance(expected, str) and expected.startswith("not "):
        return observed is not None and observed != expected[4:]
    if field_name == "valid_sig_count_min":
        return observed >= expected
    return observed == expected


def _observe(field_name: str, expected: Any, report: Report, sig_index: int | None) -> tuple[Any, bool]:
    """Our value for one expectation field and whether it agrees with ``expected``."""
    approval = _approval_signatures(report)
    if field_name == "sig_count":
        observed: Any = len(approval)
    elif field_name in ("valid_sig_count", "valid_sig_count_min"):
        observed = sum(_signature_ok(s) for s in approval)
    elif field_name == "overall_valid":
        observed = report.get("indication") == "TOTAL_PASSED"
    else:
        targets = approval if sig_index is None else approval[sig_index : sig_index + 1]
        if not targets:
            if field_name == "dss_indication" and sig_index is None:
                observed = report.get("indication")
                return observed, _matches(field_name, expected, observed)
            return None, _MET_BY_ABSENCE.get(field_name, object()) == expected
        values = [_PER_SIGNATURE[field_name](s) for s in targets]
        observed = values[0] if len(set(map(repr, values))) == 1 else values
        return observed, all(_matches(field_name, expected, v) for v in values)
    return observed, _matches(field_name, expected, observed)


def _is_false_pass(entry: Entry, report: Report) -> bool:
    """Expected broken or modified, yet some targeted signature looks intact, valid and unmodified."""
    expect = entry.expect
    negative = (
        expect.get("integrity") == "broken"
        or expect.get("crypto") == "failed"
        or expect.get("signature_ok") is False
        or expect.get("modified_after_signing") is True
    )
    if not negative:
        return False
    approval = _approval_signatures(report)
    targets = approval if entry.sig_index is None else approval[entry.sig_index : entry.sig_index + 1]
    return any(
        _signature_ok(s) and (s.get("checks") or {}).get("modifications") in ("none", "permitted")
        for s in targets
    )


def compare(entry: Entry, report: Report, known: Iterable[KnownDifference] = ()) -> EntryResult:
    """Judge one report (``Report.to_dict()`` shape) against one manifest entry."""
    known = list(known)
    outcomes = []
    for name, expected in entry.asserted().items():
        observed, agrees = _observe(name, expected, report, entry.sig_index)
        reason = None if agrees else next((k.reason for k in known if k.covers(entry, name)), None)
        outcomes.append(FieldOutcome(name, expected, observed, agrees, reason))
    return EntryResult(entry, tuple(outcomes), false_pass=_is_false_pass(entry, report))


@dataclass
class ConformanceResult:
    entries: list[EntryResult] = field(default_factory=list)

    def agreement(self) -> dict[str, tuple[int, int]]:
        """field → (agreeing, asserted); known differences count as disagreements here."""
        counts: dict[str, list[int]] = {}
        for result in self.entries:
            for outcome in result.outcomes:
                agree_total = counts.setdefault(outcome.field, [0, 0])
                agree_total[0] += outcome.agrees
                agree_total[1] += 1
        return {name: (counts[name][0], counts[name][1]) for name in FIELDS if name in counts}

    @property
    def unexplained(self) -> list[tuple[EntryResult, FieldOutcome]]:
        return [(r, o) for r in self.entries for o in r.outcomes if not o.accepted]

    @property
    def known(self) -> list[tuple[EntryResult, FieldOutcome]]:
        return [(r, o) for r in self.entries for o in r.outcomes if not o.agrees and o.accepted]

    @property
    def false_passes(self) -> list[EntryResult]:
        return [r for r in self.entries if r.false_pass]

    @property
    def crashes(self) -> list[EntryResult]:
        return [r for r in self.entries if r.crash]

    @property
    def ok(self) -> bool:
        return not (self.unexplained or self.false_passes or self.crashes)

    def summary(self) -> list[str]:
        lines = [f"{len(self.entries)} entries"]
        for name, (agree, total) in self.agreement().items():
            lines.append(f"  {name:24} {agree:4}/{total:<4} {100 * agree / total:5.1f}%")
        for label, items in (("known difference", self.known), ("DISAGREEMENT", self.unexplained)):
            for result, o in items:
                note = f" — {o.known_reason}" if o.known_reason else ""
                got = f"expected {o.expected!r}, got {o.observed!r}"
                lines.append(f"{label}: {result.entry.name} {o.field}: {got}{note}")
        lines += [f"FALSE PASS: {r.entry.name}" for r in self.false_passes]
        lines += [f"CRASH: {r.entry.name}: {r.crash.splitlines()[-1]}" for r in self.crashes if r.crash]
        lines.append("result: " + ("OK" if self.ok else "FAILED"))
        return lines

    def write_junit(self, path: Path) -> None:
        """One test case per asserted field, plus one per false pass or crash (for CI dashboards)."""
        suite = ET.Element("testsuite", name="esign-conformance")
        failures = skipped = 0
        for result in self.entries:
            for o in result.outcomes:
                case = ET.SubElement(suite, "testcase", classname=result.entry.name, name=o.field)
                text = f"expected {o.expected!r}, got {o.observed!r}"
                if o.known_reason is not None:
                    ET.SubElement(case, "skipped", message=f"known difference: {o.known_reason}").text = text
                    skipped += 1
                elif not o.agrees:
                    ET.SubElement(case, "failure", message=text).text = text
                    failures += 1
            for problem, detail in (("false_pass", result.false_pass), ("crash", result.crash)):
                if detail:
                    case = ET.SubElement(suite, "testcase", classname=result.entry.name, name=problem)
                    ET.SubElement(case, "failure", message=problem).text = str(detail)
                    failures += 1
        suite.set("tests", str(len(suite)))
        suite.set("failures", str(failures))
        suite.set("skipped", str(skipped))
        ET.ElementTree(suite).write(path, encoding="utf-8", xml_declaration=True)


def verify_with_esign(pdf: bytes, trust_anchors: Sequence[Path], at: datetime | None) -> Report:
    """The real verifier under the default policy, with the entry's anchors and validation time."""
    from esign.policy import ValidationPolicy, load_trust_anchors
    from esign.verify.pipeline import verify

    policy = ValidationPolicy.preset(
        "default", trust_roots=load_trust_anchors(trust_anchors), validation_time=at
    )
    return verify(pdf, policy).to_dict()


def run(
    directory: Path,
    *,
    known_differences: Path | None = None,
    verify: VerifyFn = verify_with_esign,
) -> ConformanceResult:
    """Verify every manifest entry's file (once per file, anchors and time) and compare.

    ``known_differences`` defaults to ``DIR/known_differences.json`` when that file exists.
    """
    directory = Path(directory)
    manifest = json.loads((directory / "manifest.json").read_text(encoding="utf-8"))
    known = load_known_differences(known_differences or directory / "known_differences.json")
    reports: dict[tuple[str, tuple[str, ...], datetime | None], tuple[Report, str | None]] = {}
    result = ConformanceResult()
    for entry in map(Entry.from_json, manifest):
        key = (entry.file, entry.trust_anchors, entry.validation_time)
        if key not in reports:
            reports[key] = _verify_safely(directory, entry, verify)
        report, crash = reports[key]
        judged = compare(entry, report, known)
        result.entries.append(EntryResult(entry, judged.outcomes, judged.false_pass, crash))
    return result


def _verify_safely(directory: Path, entry: Entry, verify: VerifyFn) -> tuple[Report, str | None]:
    """A refusal (EsignError) is a verdict; any other exception is a crash the run must report."""
    try:
        pdf = (directory / entry.file).read_bytes()
        return verify(pdf, [directory / a for a in entry.trust_anchors], entry.validation_time), None
    except EsignError as exc:
        return {"error": exc.to_dict(), "signatures": []}, None
    except Exception:
        return {"signatures": []}, traceback.format_exc()
