"""The verification pipeline: bytes + policy → one complete :class:`Report`.

Thin by design: admission (pdf.input) → enumeration (signatures) → per-slot checks (validation) →
changes after signing (modifications) → art. 13 (law) → report. Document timestamps are judged
first because a valid one is proof of existence for every signature it covers.

The revision a signature covers is taken from its ByteRange, never from where its signature
dictionary was last written: a later update may rewrite that dictionary (spoofing the /Reason,
/M or /Name a viewer shows), and that rewrite is itself a change after signing.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime

from pyhanko.pdf_utils import generic

from esign.errors import ErrorCode, EsignError
from esign.findings import Finding, FindingCode
from esign.pdf.input import ParsedPdf, open_pdf
from esign.policy import ValidationPolicy
from esign.report.model import (
    Checks,
    DocumentInfo,
    Indication,
    Modifications,
    Report,
    SignatureResult,
    SubIndication,
)
from esign.report.model import worst_indication as _worst
from esign.sync_bridge import run_sync
from esign.verify.assessment import Assessment, DocumentTimes
from esign.verify.evidence import Evidence, read_dss
from esign.verify.law import reliable_signature
from esign.verify.modifications.analysis import (
    UNKNOWN_CODES,
    UNSIGNED_CONTENT_CODES,
    ChangeAnalysis,
    ChangeFinding,
    analyse_changes,
    unaccounted,
)
from esign.verify.modifications.wording import describe_change
from esign.verify.signatures import SignatureSlot, find_signatures
from esign.verify.validation import assess

__all__ = ["averify", "verify"]

_NO_REVISION = "no revision of the file ends inside the signed range: what follows it cannot be compared"
_RELINKED = "the cross-reference chain was broken and had to be re-linked; the revisions are reconstructed"


def verify(pdf: bytes, policy: ValidationPolicy | None = None, *, name: str = "document.pdf") -> Report:
    """Verify every signature in ``pdf``; raises :class:`~esign.errors.EsignError` only for unusable input."""
    return run_sync(averify(pdf, policy, name=name))


async def averify(
    pdf: bytes, policy: ValidationPolicy | None = None, *, name: str = "document.pdf"
) -> Report:
    policy = policy or ValidationPolicy.preset()
    deadline = time.monotonic() + policy.limits.time_budget_s
    validation_time = policy.validation_time or datetime.now(UTC)
    parsed = open_pdf(pdf, policy.limits)
    doc_findings: list[Finding] = []
    if parsed.tolerant:
        doc_findings.append(Finding(FindingCode.PARSED_TOLERANTLY))
    try:
        slots, empty_fields = find_signatures(parsed)
    except Exception as exc:  # the boundary: a form tree so broken that no field can be trusted
        raise EsignError(
            ErrorCode.PDF_CORRUPT,
            detail=f"{type(exc).__name__}: {str(exc)[:200]}",
            detail_zh="文件结构无法读取",
        ) from exc
    doc_findings += [Finding(FindingCode.EMPTY_SIGNATURE_FIELD, None, name_) for name_ in empty_fields]
    if len(slots) > policy.limits.max_signatures:
        examined = f"only the first {policy.limits.max_signatures} signatures were examined"
        doc_findings.append(Finding(FindingCode.TIME_BUDGET_EXCEEDED, None, examined))
        slots = slots[: policy.limits.max_signatures]
    dss, dss_problem = read_dss(parsed.reader)
    if dss_problem:
        doc_findings.append(Finding(FindingCode.VALIDATION_DATA_UNREADABLE, None, dss_problem))

    times = DocumentTimes(validation_time)
    by_index: dict[int, Assessment] = {}
    for index, slot in enumerate(slots):
        if slot.is_timestamp:
            by_index[index] = await _bounded(parsed, slot, index, policy, dss, times, deadline)
    proven = tuple((a.signed_end, a.proven_time) for a in by_index.values() if a.signed_end and a.proven_time)
    times = DocumentTimes(validation_time, proven)
    for index, slot in enumerate(slots):
        if index not in by_index:
            by_index[index] = await _bounded(parsed, slot, index, policy, dss, times, deadline)

    results = tuple(_result(parsed, by_index[i], policy, deadline) for i in range(len(slots)))
    findings = list(doc_findings)
    if not any(r.kind != "document_timestamp" for r in results):
        findings.insert(0, Finding(FindingCode.NO_SIGNATURE_FOUND))
    for index in range(len(slots)):
        findings.extend(by_index[index].findings)
    return Report(
        document=DocumentInfo(
            name=name,
            sha256=parsed.digests.sha256_hex(),
            size=len(pdf),
            pages=parsed.page_count(),
            revisions=parsed.revisions,
        ),
        indication=_worst(results),
        signatures=results,
        findings=tuple(findings),
        policy=policy.name,
        validation_time=validation_time,
    )


async def _bounded(
    parsed: ParsedPdf,
    slot: SignatureSlot,
    index: int,
    policy: ValidationPolicy,
    dss: Evidence,
    times: DocumentTimes,
    deadline: float,
) -> Assessment:
    """One slot within what is left of the document's time budget."""
    remaining = deadline - time.monotonic()
    try:
        if remaining <= 0:
            raise TimeoutError
        return await asyncio.wait_for(assess(parsed, slot, index, policy, dss, times), remaining)
    except TimeoutError:
        out = Assessment(
            index=index, slot=slot, kind="document_timestamp" if slot.is_timestamp else "signature"
        )
        out.fail(FindingCode.TIME_BUDGET_EXCEEDED, Indication.INDETERMINATE, SubIndication.TRY_LATER)
        return out


def _result(parsed: ParsedPdf, a: Assessment, policy: ValidationPolicy, deadline: float) -> SignatureResult:
    changes, change_defeats = _judge_changes(parsed, a, policy, deadline)
    indication, sub = a.verdict
    checks = Checks(a.integrity, a.crypto, a.chain, a.coverage, changes)
    codes = frozenset(f.code for f in a.findings)
    return SignatureResult(
        index=a.index,
        field=a.slot.field_name,
        kind=a.kind,
        subfilter=a.slot.subfilter.lstrip("/") if a.slot.subfilter else None,
        format=a.format,
        signed_by=a.signed_by,
        claimed_signing_time=a.claimed_signing_time,
        best_signature_time=a.best_signature_time,
        indication=indication,
        subindication=sub,
        checks=checks,
        reliable_esignature=reliable_signature(checks, indication, codes, policy, change_defeats),
        findings=tuple(dict.fromkeys(f.code.name for f in a.findings)),
    )


def _judge_changes(
    parsed: ParsedPdf, a: Assessment, policy: ValidationPolicy, deadline: float
) -> tuple[Modifications, frozenset[FindingCode]]:
    """Run the change analysis for one signature; its findings join the assessment's.

    It runs even when the signature itself is broken: the report should still say what was appended.
    An analysis that cannot decide makes the signature INDETERMINATE — never TOTAL_PASSED on doubt.
    """
    revision = _signed_revision(parsed, a)
    if revision is None:
        no_revision = ChangeFinding("DIFF_ANALYSIS_FAILED", False, (), _NO_REVISION)
        unexplained = unaccounted(parsed.data, parsed.reader, a.signed_end)
        analysis = ChangeAnalysis("unknown", (no_revision, *unexplained))
    else:
        analysis = analyse_changes(
            parsed.data,
            parsed.reader,
            revision,
            signed_end=a.signed_end,
            limits=policy.limits,
            deadline=deadline,
        )
    if parsed.relinked and analysis.status == "permitted":
        # the revisions were reconstructed from a file whose own pointers contradict them: what was
        # appended after signing is our inference, so "nothing suspicious" is not a certainty
        analysis = ChangeAnalysis(
            "unknown",
            (*analysis.findings, ChangeFinding("DIFF_ANALYSIS_FAILED", False, (), _RELINKED)),
        )
    defeats: set[FindingCode] = set()
    for change in analysis.findings:
        code = FindingCode.lookup(change.code)
        a.note(code, *describe_change(change, revision))
        if not change.permitted and change.code not in UNKNOWN_CODES:
            defeats.add(code)  # a doubt ("could not tell") leaves art. 13 undetermined, it defeats nothing
    if analysis.status == "suspicious":
        if not defeats:
            a.note(FindingCode.MODIFIED_AFTER_SIGNING)
            defeats.add(FindingCode.MODIFIED_AFTER_SIGNING)
        a.fail_verdict(Indication.TOTAL_FAILED, SubIndication.FORMAT_FAILURE)
    elif analysis.status == "unknown":
        a.note(FindingCode.MODIFICATION_CHECK_UNAVAILABLE)
        budget = any(f.code == "TIME_BUDGET_EXCEEDED" for f in analysis.findings)
        a.fail_verdict(
            Indication.INDETERMINATE, SubIndication.TRY_LATER if budget else SubIndication.FORMAT_FAILURE
        )
    elif any(f.code in UNSIGNED_CONTENT_CODES for f in analysis.findings):
        # permitted, but the page shows what the signer never saw: the signature does not vouch for it
        a.fail_verdict(Indication.INDETERMINATE, SubIndication.SIG_CONSTRAINTS_FAILURE)
    return analysis.status, frozenset(defeats)


def _signed_revision(parsed: ParsedPdf, a: Assessment) -> int | None:
    """The last revision inside the signed range (pyHanko numbering).

    Without a usable ByteRange, the revision that introduced the signature dictionary stands in, so
    the report can still say what was appended after the signature was written.
    """
    if a.signed_end is not None:
        inside = [r for r, end in enumerate(parsed.revision_ends) if end <= a.signed_end]
        return inside[-1] if inside else None
    ref = a.slot.field.raw_get("/V")
    if isinstance(ref, generic.IndirectObject):
        try:
            return parsed.reader.xrefs.get_introducing_revision(ref.reference)
        except KeyError:
            return None
    return None
