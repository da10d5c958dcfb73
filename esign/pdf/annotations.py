"""What sealing and verification both read about annotations: the rectangle a viewer draws.

The sealer must not lay a seal over an annotation (``esign.seal.placement``) and the verifier doubts a
document whose drawn annotations overlap (``esign.verify.modifications.annotation_overlap``): both must
agree on which annotations are drawn and where, or the sealer would make documents the verifier doubts.
"""

from __future__ import annotations

from typing import Any

from pyhanko.pdf_utils import generic

__all__ = ["MAX_ANNOTATIONS_PER_PAGE", "Box", "drawn_box", "resolved"]

#: Hidden (bit 2) and NoView (bit 6): such annotations are never drawn.
_NOT_DRAWN = 0b10 | 0b100000
#: Beyond this many annotations on one page only the first ones are compared (hostile input).
MAX_ANNOTATIONS_PER_PAGE = 2000

Box = tuple[float, float, float, float]


def resolved(obj: generic.PdfObject, key: str, default: object = None) -> Any:
    """``obj[key]`` dereferenced, or ``default``; pyHanko's ``dict.get`` would return the bare reference."""
    if isinstance(obj, generic.DictionaryObject) and key in obj:
        return obj[key]
    return default


def drawn_box(annot: generic.PdfObject) -> Box | None:
    """The rectangle of an annotation viewers draw (not a popup, not hidden), of positive area."""
    annot = annot.get_object()
    if not isinstance(annot, generic.DictionaryObject) or resolved(annot, "/Subtype") == "/Popup":
        return None
    flags = resolved(annot, "/F", 0)
    if isinstance(flags, int) and flags & _NOT_DRAWN:
        return None
    return _box(resolved(annot, "/Rect"))


def _box(value: object) -> Box | None:
    try:
        x1, y1, x2, y2 = (float(v) for v in value)  # type: ignore[union-attr]
    except (TypeError, ValueError):
        return None
    box = (min(x1, x2), min(y1, y2), max(x1, x2), max(y1, y2))
    return box if box[2] > box[0] and box[3] > box[1] else None
