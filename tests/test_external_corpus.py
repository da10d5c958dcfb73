"""esign against signed PDFs with expected outcomes from other projects' tests (../shared/corpus/external).

Upstream validators disagree with each other on some files; where we differ, the difference is listed with
its reason in fixtures/conformance_known_differences.json and docs/conformance.md. A false pass never is.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from esign.report.text import render_text
from esign.verify import conformance
from fixtures.conformance import KNOWN_DIFFERENCES

MIN_AGREEMENT = 0.9
#: below this many asserted entries one listed judgement difference already falls under 90 %, so such a
#: field must instead have no disagreement that is not a listed known difference (docs/conformance.md)
MIN_ENTRIES_FOR_RATIO = 10


#: what only Python or pyHanko would write: a class or enum repr, an exception name, a traceback
PYTHON_INTERNALS = re.compile(
    r"<class |Error\(|pyhanko\.|Traceback|object at 0x"
    r"|\b[A-Z][a-z0-9]+(?:[A-Z][a-z0-9]*)*(?:Error|Exception)\b"  # ValueError, SuspiciousModification…
    r"|\b[A-Z][a-z]+(?:[A-Z][a-z0-9]*)+[(.][A-Z_]*"  # IndirectObject(32, 0), AdESIndeterminate.NO_…
    r"|\{'/"  # a dictionary's repr
)


@pytest.fixture(scope="module")
def external_reports() -> list[dict[str, Any]]:
    """Every report of the corpus run below (filled by it), so other checks need no second run."""
    return []


@pytest.fixture(scope="module")
def external_result(
    shared_dir: Path, external_reports: list[dict[str, Any]]
) -> conformance.ConformanceResult:
    pytest.importorskip("esign.verify.pipeline", reason="esign.verify.pipeline has not landed yet")

    def verify(pdf: bytes, anchors: list[Path], at: datetime | None) -> dict[str, Any]:
        report = conformance.verify_with_esign(pdf, anchors, at)
        external_reports.append(report)
        return report

    return conformance.run(
        shared_dir / "corpus" / "external", known_differences=KNOWN_DIFFERENCES, verify=verify
    )


def _details(report: dict[str, Any]) -> Iterator[str]:
    for finding in report.get("findings", ()):  # every finding, each naming its signature
        yield finding.get("detail") or ""
        yield finding.get("detail_zh") or ""
    for lang in ("zh", "en"):
        yield from render_text(report, lang).splitlines()


def test_no_report_of_the_external_corpus_shows_python_internals(external_result, external_reports) -> None:
    """A clerk reads every detail: PDF objects and fields by name, never a class, repr or traceback."""
    assert len(external_reports) >= len({e.entry.file for e in external_result.entries})
    leaks = sorted({t for r in external_reports for t in _details(r) if PYTHON_INTERNALS.search(t)})
    assert leaks == []


def test_no_file_of_the_external_corpus_crashes_the_verifier(external_result) -> None:
    assert not external_result.crashes, "\n".join(external_result.summary())


def test_no_broken_or_modified_file_of_the_external_corpus_passes(external_result) -> None:
    assert [r.entry.name for r in external_result.false_passes] == []


def test_every_expectation_field_agrees_on_at_least_90_percent(external_result) -> None:
    explained = {o.field for _, o in external_result.known}
    unexplained = {o.field for _, o in external_result.unexplained}
    low = {
        field: f"{agree}/{total}"
        for field, (agree, total) in external_result.agreement().items()
        if agree < MIN_AGREEMENT * total
        and (total >= MIN_ENTRIES_FOR_RATIO or field in unexplained or field not in explained)
    }
    assert low == {}, "\n".join(external_result.summary())


def test_every_disagreement_is_a_listed_known_difference(external_result) -> None:
    unexplained = [f"{r.entry.name} {o.field}" for r, o in external_result.unexplained]
    assert unexplained == [], "\n".join(external_result.summary())
