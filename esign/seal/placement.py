"""A visible seal never lands on an existing annotation: refused with a free spot, or moved there.

A seal widget laid over a link, a form field or another seal hides it or captures its clicks, and a
verifier (ours, DSS) rightly doubts a document whose annotations overlap: every such upload would be
rejected at intake. So before anything is written, the seal's rectangle is checked against the drawn
annotations of its page. On overlap the seal is refused with ``SEAL_OVERLAPS_ANNOTATION``, whose message
gives the nearest free spot (centre in millimetres from the page's top-left corner, as
:class:`esign.seal.appearance.AtPosition` takes it) — or, when the caller allows it
(``avoid_annotations=move``), placed at that spot.

The nearest free spot is searched on a grid of :data:`GRID_MM` over the page's visible area, nearest
first, so the seal moves as little as possible; a page with no room left is ``NO_FREE_SEAL_SPOT``.
"""

from __future__ import annotations

import math
from enum import StrEnum

from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.rw_common import PdfHandler

from esign.errors import ErrorCode, EsignError
from esign.pdf.annotations import MAX_ANNOTATIONS_PER_PAGE, drawn_box, resolved
from esign.seal.appearance import MM, Rect, page_box

#: spacing of the candidate centres searched for a free spot
GRID_MM = 2.0

Box = tuple[float, float, float, float]


class AvoidAnnotations(StrEnum):
    """What a visible seal does when its rectangle would overlap an existing annotation."""

    REFUSE = "refuse"  #: raise SEAL_OVERLAPS_ANNOTATION, suggesting a free spot
    MOVE = "move"  #: place the seal at that free spot instead


def clear_of_annotations(handler: PdfHandler, rect: Rect, avoid: AvoidAnnotations, field_name: str) -> Rect:
    """``rect`` when it overlaps no drawn annotation of its page; else the free spot, or a typed refusal.

    The widget of ``field_name`` itself (an existing empty signature field being filled) is no obstacle.
    """
    boxes = annotation_boxes(handler, rect.page_index, field_name)
    if not any(_overlaps(rect.box, b) for b in boxes):
        return rect
    left, bottom, right, top = page_box(handler, rect.page_index)
    spot = _nearest_free(rect, boxes, (left, bottom, right, top))
    page = rect.page_index + 1
    if spot is None:
        raise EsignError(ErrorCode.NO_FREE_SEAL_SPOT, page=page)
    if avoid is AvoidAnnotations.MOVE:
        return spot
    cx, cy = (spot.x1 + spot.x2) / 2, (spot.y1 + spot.y2) / 2
    raise EsignError(
        ErrorCode.SEAL_OVERLAPS_ANNOTATION,
        page=page,
        x_mm=round((cx - left) / MM, 1),
        y_mm=round((top - cy) / MM, 1),
    )


def annotation_boxes(handler: PdfHandler, page_index: int, field_name: str) -> list[Box]:
    """Rectangles of the annotations a viewer draws on the page (popups, hidden ones and the widget of
    ``field_name`` left out)."""
    page_ref, _ = handler.find_page_for_modification(page_index)
    annots = resolved(page_ref.get_object(), "/Annots", generic.ArrayObject())
    if not isinstance(annots, generic.ArrayObject):
        return []
    kept = (annots[i] for i in range(min(len(annots), MAX_ANNOTATIONS_PER_PAGE)))
    boxes = (drawn_box(a) for a in kept if _name(a) != field_name)
    return [b for b in boxes if b is not None]


def _name(annot: generic.PdfObject) -> str | None:
    """The partial name of the field a widget belongs to (its own /T or its parent's)."""
    annot = annot.get_object()
    for node in (annot, resolved(annot, "/Parent")):
        if isinstance(node, generic.DictionaryObject) and "/T" in node:
            return str(node["/T"])
    return None


def _overlaps(a: Box, b: Box) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def _nearest_free(rect: Rect, boxes: list[Box], page: Box) -> Rect | None:
    """The free position nearest to ``rect``'s centre with the seal wholly on the page, or None."""
    width, height = rect.x2 - rect.x1, rect.y2 - rect.y1
    cx, cy = (rect.x1 + rect.x2) / 2, (rect.y1 + rect.y2) / 2
    step = GRID_MM * MM
    xs = _steps(page[0] + width / 2, page[2] - width / 2, step)
    ys = _steps(page[1] + height / 2, page[3] - height / 2, step)
    for _, x, y in sorted((math.hypot(x - cx, y - cy), x, y) for x in xs for y in ys):
        box = (x - width / 2, y - height / 2, x + width / 2, y + height / 2)
        if not any(_overlaps(box, b) for b in boxes):
            return Rect(rect.page_index, *box)
    return None


def _steps(low: float, high: float, step: float) -> list[float]:
    if high < low:
        return []
    return [low + i * step for i in range(int((high - low) / step) + 1)]
