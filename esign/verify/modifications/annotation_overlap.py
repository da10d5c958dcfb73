"""Pages on which two annotation rectangles overlap: one annotation may hide or capture another.

An annotation drawn over another hides its appearance, and a link laid over a signature widget
captures the click that should show the signature's details (a fake "verify here" link). Neither is
visible in a pixel comparison of the revisions, because the cover may already be in the signed
revision. DSS reports such overlaps for every signature of the document; we report them too, as a
doubt (the change analysis becomes ``unknown``, the signature INDETERMINATE), not as proof of tampering:
overlapping hyperlinks are common in office exports and hide nothing a person can see.
"""

from __future__ import annotations

from pyhanko.pdf_utils import generic

from esign.verify.modifications.mdp_rules import resolved
from esign.verify.modifications.page_tree import list_pages

#: Hidden (bit 2) and NoView (bit 6): such annotations are never drawn.
_NOT_DRAWN = 0b10 | 0b100000
#: Beyond this many annotations on one page only the first ones are compared (hostile input).
MAX_ANNOTATIONS_PER_PAGE = 2000

Box = tuple[float, float, float, float]


def overlapping_pages(root: generic.DictionaryObject) -> tuple[int, ...]:
    """1-based numbers of the pages on which two drawable annotations overlap."""
    return tuple(
        number for number, page in enumerate(list_pages(root), start=1) if _has_overlap(_boxes(page.page))
    )


def _boxes(page: generic.DictionaryObject) -> list[tuple[Box, set[int]]]:
    """Drawable annotation rectangles of positive area, each with the object numbers it is tied to."""
    annots = resolved(page, "/Annots", generic.ArrayObject())
    if not isinstance(annots, generic.ArrayObject):
        return []
    boxes: list[tuple[Box, set[int]]] = []
    for i in range(min(len(annots), MAX_ANNOTATIONS_PER_PAGE)):
        raw = annots.raw_get(i)
        annot = raw.get_object()
        if not isinstance(annot, generic.DictionaryObject) or resolved(annot, "/Subtype") == "/Popup":
            continue
        flags = resolved(annot, "/F", 0)
        if isinstance(flags, int) and flags & _NOT_DRAWN:
            continue
        box = _box(resolved(annot, "/Rect"))
        if box is not None:
            boxes.append((box, _ties(raw, annot)))
    return boxes


def _ties(raw: generic.PdfObject, annot: generic.DictionaryObject) -> set[int]:
    """Itself and the annotations it belongs with (its popup, its parent field, the one it replies to)."""
    ties = {raw.reference.idnum} if isinstance(raw, generic.IndirectObject) else set()
    for key in ("/Popup", "/Parent", "/IRT"):
        value = annot.raw_get(key) if key in annot else None
        if isinstance(value, generic.IndirectObject):
            ties.add(value.reference.idnum)
    return ties


def _box(value: object) -> Box | None:
    try:
        x1, y1, x2, y2 = (float(v) for v in value)  # type: ignore[union-attr]
    except (TypeError, ValueError):
        return None
    box = (min(x1, x2), min(y1, y2), max(x1, x2), max(y1, y2))
    return box if box[2] > box[0] and box[3] > box[1] else None


def _has_overlap(boxes: list[tuple[Box, set[int]]]) -> bool:
    """Sweep along x: only rectangles whose x-ranges still intersect need comparing."""
    active: list[tuple[Box, set[int]]] = []
    for box, ties in sorted(boxes, key=lambda b: b[0][0]):
        active = [(b, t) for b, t in active if b[2] > box[0]]
        if any(b[1] < box[3] and box[1] < b[3] and not (t & ties) for b, t in active):
            return True
        active.append((box, ties))
    return False
