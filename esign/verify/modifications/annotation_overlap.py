"""Pages on which two annotation rectangles overlap: one annotation may hide or capture another.

An annotation drawn over another hides its appearance, and a link laid over a signature widget
captures the click that should show the signature's details (a fake "verify here" link). Neither is
visible in a pixel comparison of the revisions, because the cover may already be in the signed
revision. DSS reports such overlaps for every signature of the document; we report them too, as a
doubt (the change analysis becomes ``unknown``, the signature INDETERMINATE), not as proof of tampering:
overlapping hyperlinks are common in office exports and hide nothing a person can see.

One overlap is no doubt for a signature: its OWN widget over annotations that were already there, and
unchanged since, when it was signed — the signer placed the seal seeing them, and nothing hidden was
added later. The same overlap is still a doubt for earlier signatures, which never saw that widget.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.reader import PdfFileReader

from esign.pdf.annotations import MAX_ANNOTATIONS_PER_PAGE, Box, drawn_box, resolved
from esign.verify.modifications.mdp_rules import MAX_TREE_DEPTH
from esign.verify.modifications.page_tree import list_pages


@dataclass(frozen=True)
class _Drawn:
    box: Box
    ties: frozenset[int]  # itself and the annotations it belongs with
    own: bool  # a widget of the signature judged, unchanged since it was signed
    seen: bool  # present and unchanged since the signed revision


def overlapping_pages(reader: PdfFileReader, signed_revision: int) -> tuple[int, ...]:
    """1-based numbers of the pages of the final file on which two drawn annotations overlap in a way
    that is a doubt for the signature of ``signed_revision``."""
    pages = list_pages(reader.root)
    return tuple(
        number
        for number, page in enumerate(pages, start=1)
        if _has_overlap(list(_drawn(reader, page.page, signed_revision)))
    )


def _drawn(reader: PdfFileReader, page: generic.DictionaryObject, signed_revision: int) -> Iterator[_Drawn]:
    annots = resolved(page, "/Annots", generic.ArrayObject())
    if not isinstance(annots, generic.ArrayObject):
        return
    for i in range(min(len(annots), MAX_ANNOTATIONS_PER_PAGE)):
        raw = annots.raw_get(i)
        box = drawn_box(raw)
        if box is None:
            continue
        annot = raw.get_object()
        seen = _unchanged_since(reader, raw, signed_revision)
        own = seen and _signature_value_written_in(reader, annot, signed_revision)
        yield _Drawn(box, frozenset(_ties(raw, annot)), own, seen)


def _unchanged_since(reader: PdfFileReader, raw: generic.PdfObject, revision: int) -> bool:
    if not isinstance(raw, generic.IndirectObject):
        return False  # a direct annotation has no history of its own: it can't be shown to be old
    try:
        return reader.xrefs.get_last_change(raw.reference) <= revision
    except KeyError:
        return False


def _signature_value_written_in(
    reader: PdfFileReader, annot: generic.DictionaryObject, revision: int
) -> bool:
    """Whether ``annot`` is the widget of a signature field whose value was written in ``revision``."""
    node: object = annot
    field_type = value = None
    for _ in range(MAX_TREE_DEPTH):
        if not isinstance(node, generic.DictionaryObject):
            break
        field_type = field_type or resolved(node, "/FT")
        value = value or (node.raw_get("/V") if "/V" in node else None)
        node = resolved(node, "/Parent")
    if field_type != "/Sig" or not isinstance(value, generic.IndirectObject):
        return False
    try:
        return reader.xrefs.get_last_change(value.reference) == revision
    except KeyError:
        return False


def _ties(raw: generic.PdfObject, annot: generic.DictionaryObject) -> set[int]:
    """Itself and the annotations it belongs with (its popup, its parent field, the one it replies to)."""
    ties = {raw.reference.idnum} if isinstance(raw, generic.IndirectObject) else set()
    for key in ("/Popup", "/Parent", "/IRT"):
        value = annot.raw_get(key) if key in annot else None
        if isinstance(value, generic.IndirectObject):
            ties.add(value.reference.idnum)
    return ties


def _doubtful(a: _Drawn, b: _Drawn) -> bool:
    """Overlapping ``a`` and ``b`` are a doubt unless tied together or the signer saw them overlap."""
    if a.ties & b.ties:
        return False
    return not ((a.own and b.seen) or (b.own and a.seen))


def _has_overlap(drawn: list[_Drawn]) -> bool:
    """Sweep along x: only rectangles whose x-ranges still intersect need comparing."""
    active: list[_Drawn] = []
    for d in sorted(drawn, key=lambda d: d.box[0]):
        active = [a for a in active if a.box[2] > d.box[0]]
        if any(a.box[1] < d.box[3] and d.box[1] < a.box[3] and _doubtful(a, d) for a in active):
            return True
        active.append(d)
    return False
