"""Where a seal goes on the page, and how it looks there.

Placement is given the way a clerk measures on paper — millimetres from the page's top-left
corner to the seal's centre — or by a keyword printed on the page (the agency name, "（盖章）"),
or as a cross-page seal (骑缝章) cut into vertical strips along the right edge of several pages,
or not at all (an invisible seal). This module turns each into PDF user-space rectangles and
appearance streams for pyHanko; it does not sign.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from io import BytesIO
from typing import Literal

from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.content import PdfContent
from pyhanko.pdf_utils.generic import pdf_name
from pyhanko.pdf_utils.layout import BoxConstraints
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.pdf_utils.rw_common import PdfHandler, find_inherited_value_in_tree
from pyhanko.pdf_utils.writer import BasePdfFileWriter

from esign.errors import ErrorCode, EsignError

__all__ = [
    "AtKeyword",
    "AtPosition",
    "CrossPage",
    "Invisible",
    "Placement",
    "Rect",
    "SealPdfContent",
    "add_cross_page_strips",
    "page_box",
    "page_count",
    "resolve_rect",
]

MM = 72 / 25.4  # points per millimetre


@dataclass(frozen=True)
class AtPosition:
    """The seal's centre at (x_mm, y_mm) from the top-left corner of ``page`` (1-based; -1 = last)."""

    page: int
    x_mm: float
    y_mm: float


@dataclass(frozen=True)
class AtKeyword:
    """The seal centred on a text printed in the document.

    ``occurrence`` picks the first or the last match in reading order; seals usually go at the end
    of a document, so "last" searches from the last page backwards and stops at the first hit.
    ``offset_mm`` shifts the centre (x right, y down) from the text's centre.
    """

    keyword: str
    occurrence: Literal["first", "last"] = "last"
    offset_mm: tuple[float, float] = (0.0, 0.0)


@dataclass(frozen=True)
class CrossPage:
    """A cross-page seal (骑缝章): one vertical strip of the seal on the right edge of each page.

    ``pages`` are 1-based page numbers (None = every page); ``y_mm`` is the strips' centre from the
    top of each page (None = the middle of the page).
    """

    pages: tuple[int, ...] | None = None
    y_mm: float | None = None


@dataclass(frozen=True)
class Invisible:
    """A seal without a visible appearance (the signature still covers the document)."""


Placement = AtPosition | AtKeyword | CrossPage | Invisible


@dataclass(frozen=True)
class Rect:
    """A rectangle in PDF user space (points, origin bottom-left) on a 0-based page index."""

    page_index: int
    x1: float
    y1: float
    x2: float
    y2: float

    @property
    def box(self) -> tuple[float, float, float, float]:
        return (self.x1, self.y1, self.x2, self.y2)


def page_count(handler: PdfHandler) -> int:
    return int(handler.root["/Pages"]["/Count"])


def page_box(handler: PdfHandler, page_index: int) -> tuple[float, float, float, float]:
    """The visible area of a page: its CropBox (defaulting to the MediaBox), inherited if need be."""
    page_ref, _ = handler.find_page_for_modification(page_index)
    page = page_ref.get_object()
    box = find_inherited_value_in_tree(page, "/CropBox", "/Parent") or find_inherited_value_in_tree(
        page, "/MediaBox", "/Parent"
    )
    if box is None:
        raise EsignError(ErrorCode.PDF_CORRUPT, detail=f"page {page_index + 1} has no MediaBox")
    x1, y1, x2, y2 = (float(v) for v in box)
    return min(x1, x2), min(y1, y2), max(x1, x2), max(y1, y2)


def _page_index(page: int, pages: int) -> int:
    """1-based page number (negative counts from the end) → 0-based index, with a typed error."""
    index = page - 1 if page > 0 else pages + page
    if page == 0 or not 0 <= index < pages:
        raise EsignError(ErrorCode.PAGE_OUT_OF_RANGE, page=page, pages=pages)
    return index


def _centred(page_index: int, cx: float, cy: float, width: float, height: float) -> Rect:
    return Rect(page_index, cx - width / 2, cy - height / 2, cx + width / 2, cy + height / 2)


def resolve_rect(
    pdf: bytes, handler: PdfHandler, placement: AtPosition | AtKeyword, size_mm: tuple[float, float]
) -> Rect:
    """The field rectangle for a single visible seal of ``size_mm`` (width, height)."""
    width, height = size_mm[0] * MM, size_mm[1] * MM
    pages = page_count(handler)
    if isinstance(placement, AtPosition):
        index = _page_index(placement.page, pages)
        left, _, _, top = page_box(handler, index)
        return _centred(index, left + placement.x_mm * MM, top - placement.y_mm * MM, width, height)
    from esign.pdf.textsearch import find_first, find_last

    finder = find_last if placement.occurrence == "last" else find_first
    hit = finder(pdf, placement.keyword)
    if hit is None:
        raise EsignError(ErrorCode.KEYWORD_NOT_FOUND, keyword=placement.keyword)
    dx, dy = placement.offset_mm
    cx, cy = (hit.x0 + hit.x1) / 2 + dx * MM, (hit.y0 + hit.y1) / 2 - dy * MM
    return _centred(hit.page, cx, cy, width, height)


class SealPdfContent(PdfContent):
    """The seal picture (a one-page PDF) as the background of a pyHanko stamp.

    pyHanko's ``ImportedPdfPage`` only reads from a file name; seals live in memory (registry,
    API uploads), so this reads the same page from bytes.
    """

    def __init__(self, seal_pdf: bytes) -> None:
        super().__init__()
        self._seal_pdf = seal_pdf

    def render(self) -> bytes:
        xobj = self._ensure_writer.import_page_as_xobject(PdfFileReader(BytesIO(self._seal_pdf)))
        self.resources.xobject["/Seal"] = xobj
        x1, y1, x2, y2 = (float(v) for v in xobj.get_object()["/BBox"])
        self.box = BoxConstraints(width=abs(x2 - x1), height=abs(y2 - y1))
        return b"/Seal Do"


def add_cross_page_strips(
    writer: BasePdfFileWriter, seal_pdf: bytes, size_mm: tuple[float, float], placement: CrossPage
) -> list[Rect]:
    """Draw strip i of the seal at the right edge of the i-th selected page, in the page content.

    The strips go into the content of the revision that the new signature covers, so the one
    signature protects all of them. Returns where each strip was drawn.
    """
    pages = page_count(writer)
    numbers: Sequence[int] = placement.pages or range(1, pages + 1)
    indices = [_page_index(n, pages) for n in numbers]
    if len(indices) < 2 or len(set(indices)) != len(indices):
        raise EsignError(ErrorCode.BAD_PLACEMENT, detail="a cross-page seal needs two or more distinct pages")
    width, height = size_mm[0] * MM, size_mm[1] * MM
    strip = width / len(indices)
    seal_ref = writer.import_page_as_xobject(PdfFileReader(BytesIO(seal_pdf)))
    drawn = []
    for i, index in enumerate(indices):
        _, bottom, right, top = page_box(writer, index)
        cy = (top + bottom) / 2 if placement.y_mm is None else top - placement.y_mm * MM
        rect = Rect(index, right - strip, cy - height / 2, right, cy + height / 2)
        strip_ref = _strip_xobject(writer, seal_ref, i * strip, strip, height)
        # Wrap the existing content in q … Q so a graphics state it leaves behind (an unbalanced
        # cm, a clip) cannot move or hide the strip.
        writer.add_stream_to_page(
            index, writer.add_object(generic.StreamObject(stream_data=b"q\n")), prepend=True
        )
        # one name per strip: pages often share an inherited resource dictionary
        name = f"/EsignSealStrip{i}"
        ops = f"\nQ q 1 0 0 1 {rect.x1:.3f} {rect.y1:.3f} cm {name} Do Q\n".encode()
        resources = generic.DictionaryObject(
            {pdf_name("/XObject"): generic.DictionaryObject({pdf_name(name): strip_ref})}
        )
        writer.add_stream_to_page(
            index, writer.add_object(generic.StreamObject(stream_data=ops)), resources=resources
        )
        drawn.append(rect)
    return drawn


def _strip_xobject(
    writer: BasePdfFileWriter, seal_ref: generic.IndirectObject, x_from: float, width: float, height: float
) -> generic.IndirectObject:
    """A form XObject showing the vertical slice [x_from, x_from + width] of the seal."""
    ops = f"q 0 0 {width:.3f} {height:.3f} re W n 1 0 0 1 {-x_from:.3f} 0 cm /Seal Do Q".encode()
    form = generic.StreamObject(
        {
            pdf_name("/Type"): pdf_name("/XObject"),
            pdf_name("/Subtype"): pdf_name("/Form"),
            pdf_name("/BBox"): generic.ArrayObject(
                [
                    generic.FloatObject(0),
                    generic.FloatObject(0),
                    generic.FloatObject(width),
                    generic.FloatObject(height),
                ]
            ),
            pdf_name("/Resources"): generic.DictionaryObject(
                {pdf_name("/XObject"): generic.DictionaryObject({pdf_name("/Seal"): seal_ref})}
            ),
        },
        stream_data=ops,
    )
    return writer.add_object(form)
