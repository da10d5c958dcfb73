"""Changes after signing, judged by what a person SEES — not only by which objects changed.

Three independent views are combined, and every one of them is reported:

1. pyHanko's object-level difference analysis (with an extra rule for DocMDP P=3 comments),
   checked against the signature's DocMDP/FieldMDP constraints;
2. an inventory of permitted additions (later signatures, document timestamps, DSS/VRI data,
   form filling) so the report says what was added even when it is allowed;
3. page-level comparison: added/removed pages, then the changed pages rendered in the signed revision
   and in the final file by poppler and PDFium and compared pixel by pixel
   (:mod:`esign.verify.modifications.viewers`).

Nothing here raises: any failure becomes status ``unknown`` with a ``DIFF_ANALYSIS_FAILED`` finding.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Iterator
from io import BytesIO
from typing import TYPE_CHECKING

from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.misc import PdfStrictReadError
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.diff_analysis import DiffResult, ModificationLevel, SuspiciousModification

from esign.pdf.annotations import resolved
from esign.pdf.input import end_of_revisions
from esign.pdf.updates import unaccounted_bytes
from esign.verify.modifications.annotation_overlap import overlapping_pages
from esign.verify.modifications.diff_policy import DIFF_POLICY
from esign.verify.modifications.document_entries import document_entry_changes
from esign.verify.modifications.mdp_rules import MAX_TREE_DEPTH, MdpConstraints, read_constraints
from esign.verify.modifications.model import ChangeAnalysis, ChangeFinding, ChangeStatus
from esign.verify.modifications.page_changes import PageComparison, compare_pages
from esign.verify.modifications.page_tree import ObjectDigester
from esign.verify.modifications.viewers import visual_changes
from esign.verify.modifications.visual import RenderTimeout

if TYPE_CHECKING:
    from esign.policy import Limits

__all__ = [
    "UNKNOWN_CODES",
    "UNSIGNED_CONTENT_CODES",
    "ChangeAnalysis",
    "ChangeFinding",
    "analyse_changes",
    "unaccounted",
]

DEFAULT_TIME_BUDGET_S = 60.0
#: Codes meaning "we could not tell" rather than "something bad happened".
UNKNOWN_CODES = frozenset(
    {
        "DIFF_ANALYSIS_FAILED",
        "TIME_BUDGET_EXCEEDED",
        "ANNOTATIONS_OVERLAP",
        "UPDATE_NOT_WELL_FORMED",
        "RENDERERS_DISAGREE",
        "RENDER_LIMIT_EXCEEDED",
    }
)
#: Permitted changes that make the page show what its signer never saw (a comment after an approval
#: signature): not tampering, but the signature is no proof of the document as shown — at most INDETERMINATE.
UNSIGNED_CONTENT_CODES = frozenset({"COMMENT_ADDED_AFTER_APPROVAL"})
_log = logging.getLogger(__name__)
#: What a reader can pick up from bytes outside every revision: object definitions, tables, trailers.
_REVISION_SYNTAX = re.compile(rb"(\d+)\s+\d+\s+obj\b|\bxref\b|\btrailer\b")


class BudgetExceeded(RuntimeError):
    """The time budget of the document ran out."""


def analyse_changes(
    pdf: bytes,
    reader: PdfFileReader,
    signed_revision: int,
    *,
    signed_end: int | None = None,
    limits: Limits | None = None,
    deadline: float | None = None,
) -> ChangeAnalysis:
    """Judge everything appended after ``signed_revision``; never raises.

    ``signed_end`` (where the signed range ends) lets the bytes after it be checked for a strictly
    well-formed update chain (:mod:`esign.pdf.updates`). ``deadline`` (a ``time.monotonic()``
    value) is the document's: the analyses of all its signatures share one time budget.
    """
    budget = getattr(limits, "time_budget_s", DEFAULT_TIME_BUDGET_S)
    own = time.monotonic() + budget
    deadline = own if deadline is None else min(own, deadline)
    findings: list[ChangeFinding] = []
    try:
        findings += _overlaps(reader, signed_revision)
        findings += _unindexed_tail(pdf, reader)
        findings += unaccounted(pdf, reader, signed_end)
        if signed_revision >= reader.xrefs.total_revisions - 1:
            return ChangeAnalysis(_status(findings) if findings else "none", tuple(findings))
        constraints = read_constraints(reader, signed_revision)
        findings += _object_diff(pdf, reader, signed_revision, constraints)
        findings += document_entry_changes(reader, signed_revision, constraints)
        _check(deadline)
        pages = compare_pages(reader, signed_revision)
        findings += _additions(reader, signed_revision, constraints, pages)
        findings += _page_count_changes(pages)
        _check(deadline)
        findings += visual_changes(pdf, reader, signed_revision, pages, constraints, limits, deadline)
    except (BudgetExceeded, RenderTimeout) as e:
        findings.append(ChangeFinding("TIME_BUDGET_EXCEEDED", False, (), f"change analysis stopped: {e}"))
    except Exception:  # hostile files reach here; the report must say so, not crash
        findings.append(_failed("the document's structure after signing could not be analysed"))
    return ChangeAnalysis(_status(findings), tuple(findings))


def _status(findings: list[ChangeFinding]) -> ChangeStatus:
    if any(not f.permitted and f.code not in UNKNOWN_CODES for f in findings):
        return "suspicious"
    if any(f.code in UNKNOWN_CODES for f in findings):
        return "unknown"
    return "permitted"


def _check(deadline: float) -> None:
    if time.monotonic() > deadline:
        raise BudgetExceeded("analysis stopped")


def _failed(detail: str) -> ChangeFinding:
    """The report says in words which step failed; the exception (a Python type and message, useless
    to a clerk) goes to the debug log, for whoever investigates the file."""
    _log.debug("change analysis: %s", detail, exc_info=True)
    return ChangeFinding("DIFF_ANALYSIS_FAILED", False, (), detail)


def _overlaps(reader: PdfFileReader, signed_revision: int) -> list[ChangeFinding]:
    """Overlapping annotations in the final file: what they may hide is a doubt, not a proof."""
    pages = overlapping_pages(reader, signed_revision)
    return [ChangeFinding("ANNOTATIONS_OVERLAP", False, pages)] if pages else []


def unaccounted(pdf: bytes, reader: PdfFileReader, signed_end: int | None) -> list[ChangeFinding]:
    """The bytes after ``signed_end`` that no strictly parsed update explains, as a doubt."""
    problem = None if signed_end is None else unaccounted_bytes(pdf, signed_end, reader)
    return [] if problem is None else [ChangeFinding("UPDATE_NOT_WELL_FORMED", False, (), problem)]


def _unindexed_tail(pdf: bytes, reader: PdfFileReader) -> list[ChangeFinding]:
    """Objects, xref tables or trailers appended after the last revision that the parser follows.

    The reader follows ``startxref`` and never sees them, so neither does the object diff; but readers
    that rebuild a cross-reference table by scanning take the last definition of each object in the
    file, so such bytes can change what a lenient viewer shows (an incremental saving attack without a
    cross-reference section). No writer produces them: appended after signing, not permitted.
    """
    end = end_of_revisions(pdf, reader, reader.xrefs.total_revisions - 1)
    found = list(_REVISION_SYNTAX.finditer(pdf, end))
    if not found:
        return []
    numbers = sorted({int(m.group(1)) for m in found if m.group(1)})
    what = f"objects {', '.join(map(str, numbers[:10]))}" if numbers else "a cross-reference section"
    detail = f"{what} appended after the last revision, outside its cross-reference chain"
    return [ChangeFinding("MODIFIED_AFTER_SIGNING", False, (), detail)]


def _object_diff(
    pdf: bytes, reader: PdfFileReader, signed_revision: int, constraints: MdpConstraints
) -> list[ChangeFinding]:
    """pyHanko's verdict on the objects, mapped onto DocMDP/FieldMDP findings."""
    try:
        result = _review(pdf, reader, signed_revision, constraints)
    except Exception:  # pyHanko raises many types on malformed updates
        return [_failed("the PDF objects changed after signing could not be compared")]
    if isinstance(result, SuspiciousModification):
        reason = str(result)[:500]
        if "locked" in reason:
            return [ChangeFinding("FIELDMDP_VIOLATION", False, (), reason)]
        code = "DOCMDP_VIOLATION" if constraints.doc_mdp is not None else "MODIFIED_AFTER_SIGNING"
        return [ChangeFinding(code, False, (), reason)]
    assert isinstance(result, DiffResult)
    level = result.modification_level
    doc_mdp = constraints.doc_mdp
    if doc_mdp is not None and level > ModificationLevel.LTA_UPDATES and level.value > doc_mdp.value:
        return [
            ChangeFinding("DOCMDP_VIOLATION", False, (), f"{level.name} exceeds DocMDP P={doc_mdp.value}")
        ]
    # Within the permission (an approval signature promises nothing about comments), whether the
    # added objects change what is shown is judged by the renderer.
    return []


def _review(
    pdf: bytes, reader: PdfFileReader, signed_revision: int, constraints: MdpConstraints
) -> DiffResult | SuspiciousModification:
    """pyHanko's review; a strict reader that trips over a dangling reference is retried tolerantly.

    Third-party updates often reference objects that a revision does not define (null by the standard);
    only the strict parser treats that as fatal, and giving up there would leave the change undecided.
    """
    try:
        return DIFF_POLICY.review_file(reader, signed_revision, constraints.field_mdp, constraints.doc_mdp)
    except PdfStrictReadError:
        if not reader.strict:
            raise
    tolerant = PdfFileReader(BytesIO(pdf), strict=False)
    return DIFF_POLICY.review_file(tolerant, signed_revision, constraints.field_mdp, constraints.doc_mdp)


def _additions(
    reader: PdfFileReader, signed_revision: int, constraints: MdpConstraints, pages: PageComparison
) -> Iterator[ChangeFinding]:
    """Permitted-kind additions, reported even when allowed, so the applicant sees what was appended."""
    old = reader.get_historical_resolver(signed_revision)
    old_digests, new_digests = ObjectDigester(), ObjectDigester()
    if _digest_key(old.root, "/DSS", old_digests) != _digest_key(reader.root, "/DSS", new_digests):
        yield ChangeFinding("VALIDATION_DATA_ADDED", True)
    old_fields = dict(_field_values(old.root, old_digests))
    signature_pages = tuple(
        sorted({p.new_number for p in pages.changed for a in p.added + p.rewritten if a.field_type == "/Sig"})
    )
    filled: list[str] = []
    for name, (field_type, value, digest) in _field_values(reader.root, new_digests):
        if old_fields.get(name, (None, None, None))[2] == digest:
            continue
        if field_type == "/Sig" and old_fields.get(name, (None, None, None))[1] is not None:
            yield ChangeFinding("MODIFIED_AFTER_SIGNING", False, (), f"signature field {name} rewritten")
        elif field_type == "/Sig" and isinstance(value, generic.DictionaryObject):
            if resolved(value, "/Type") == "/DocTimeStamp":
                yield ChangeFinding("DOC_TIMESTAMP_ADDED", True, (), name)
            else:
                permitted = constraints.allows_form_filling
                yield ChangeFinding("LATER_SIGNATURE_ADDED", permitted, signature_pages, name)
        elif field_type != "/Sig" and name in old_fields:
            filled.append(name)
    if filled:
        permitted = constraints.allows_form_filling and not any(constraints.is_locked(n) for n in filled)
        yield ChangeFinding("FORM_FILLED_AFTER_SIGNING", permitted, (), ", ".join(sorted(filled)))


def _digest_key(root: generic.DictionaryObject, key: str, digester: ObjectDigester) -> bytes | None:
    return digester.digest(root.raw_get(key)) if key in root else None


def _field_values(
    root: generic.DictionaryObject, digester: ObjectDigester
) -> Iterator[tuple[str, tuple[str | None, generic.PdfObject | None, bytes]]]:
    """Terminal form fields: fully-qualified name → (type, value, digest of the value)."""
    try:
        fields = root["/AcroForm"]["/Fields"]
    except (KeyError, TypeError):
        return
    stack: list[tuple[generic.PdfObject, str, str | None, int]] = [(f, "", None, 0) for f in fields]
    while stack:
        node, prefix, inherited_type, depth = stack.pop()
        field = node.get_object()
        if depth > MAX_TREE_DEPTH or not isinstance(field, generic.DictionaryObject):
            continue
        name = f"{prefix}.{field['/T']}" if prefix and "/T" in field else str(resolved(field, "/T", prefix))
        field_type = str(field["/FT"]) if "/FT" in field else inherited_type
        kids = [k for k in resolved(field, "/Kids", ()) if "/T" in k.get_object()]
        if kids:
            stack.extend((kid, name, field_type, depth + 1) for kid in kids)
            continue
        value = resolved(field, "/V")
        raw = field.raw_get("/V") if "/V" in field else generic.NullObject()
        yield name, (field_type, value, digester.digest(raw))


def _page_count_changes(pages: PageComparison) -> Iterator[ChangeFinding]:
    if pages.added_pages:
        yield ChangeFinding("PAGE_ADDED_AFTER_SIGNING", False, pages.added_pages)
    if pages.removed_pages:
        yield ChangeFinding(
            "PAGE_REMOVED_AFTER_SIGNING", False, (), f"pages {pages.removed_pages} of the signed revision"
        )
