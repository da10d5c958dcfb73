"""Find text on PDF pages, so a seal can be anchored next to a keyword such as "（盖章）".

pdfminer.six interprets each page's content stream and reports every glyph with its Unicode text
and box; the glyphs are concatenated in drawing order and searched, so a keyword split across
several text operators, spread out with character spacing or broken over lines is still found.
Whitespace is ignored on both sides and both sides are NFKC-normalised, so "（盖章）" also finds
"(盖章)" and Kangxi-radical look-alikes (⽇) find their ideograph (日).

Boxes are returned in *default user space* — PDF points, origin at the bottom-left of the unrotated
page as the content stream sees it — which is the space of pyHanko's field boxes and of ``/Rect``.
pdfminer works in rotated, MediaBox-shifted coordinates; the page matrix it used is inverted, so
``/Rotate`` 0/90/180/270 and MediaBox/CropBox offsets all come back right. Glyphs outside the CropBox
are invisible and never anchor anything.

The input may be hostile: every failure is an :class:`~esign.errors.EsignError`, decompression is
measured before pdfminer inflates anything (bombs), and the search runs under a time budget.
"""

from __future__ import annotations

import re
import time
import unicodedata
import zlib
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from io import BytesIO
from typing import Literal

from pdfminer.ascii85 import ascii85decode, asciihexdecode
from pdfminer.converter import PDFLayoutAnalyzer
from pdfminer.layout import LTChar, LTContainer, LTItem, LTPage
from pdfminer.lzw import LZWDecoder
from pdfminer.pdfdocument import PDFDocument, PDFEncryptionError
from pdfminer.pdfinterp import PDFPageInterpreter, PDFResourceManager
from pdfminer.pdfpage import PDFPage
from pdfminer.pdfparser import PDFParser
from pdfminer.pdftypes import (
    LITERALS_ASCII85_DECODE,
    LITERALS_ASCIIHEX_DECODE,
    LITERALS_FLATE_DECODE,
    LITERALS_LZW_DECODE,
    PDFStream,
    resolve1,
)
from pdfminer.psparser import LIT
from pdfminer.utils import Matrix

from esign.errors import ErrorCode, EsignError

Order = Literal["first", "last"]
Box = tuple[float, float, float, float]

#: seconds one search may take before it gives up with PDF_TOO_COMPLEX
DEFAULT_TIME_BUDGET = 20.0
#: any single stream may inflate to at most this (images and fonts included): decompression bombs
MAX_STREAM_BYTES = 256 * 1024 * 1024
#: the content streams and forms pdfminer must parse for one page; its parser is pure Python
MAX_PAGE_CONTENT_BYTES = 16 * 1024 * 1024
#: the %PDF- header may follow some junk, but within the first KiB (as viewers accept it); the
#: %%EOF marker likewise within the last KiB
_HEADER_WINDOW = 1024
_STREAM_KEYWORD = re.compile(rb"stream\r?\n")
_INFLATE_CHUNK = 1024 * 1024
_FORM = LIT("Form")
_MAX_FORM_DEPTH = 8


@dataclass(frozen=True)
class TextHit:
    """One occurrence: 0-based page index and the bounding box of its glyphs in default user space."""

    page: int
    x0: float
    y0: float
    x1: float
    y1: float


def find_text(
    pdf: bytes,
    needle: str,
    *,
    pages: Sequence[int] | None = None,
    limit: int | None = None,
    order: Order = "first",
    time_budget: float = DEFAULT_TIME_BUDGET,
) -> list[TextHit]:
    """Every occurrence of ``needle``, in reading order (``order="first"``) or exactly reversed
    (``order="last"``: last page first, and the last occurrence on a page first).

    ``pages`` restricts the search to these 0-based page indexes (negative counts from the end, as in
    Python); ``limit`` stops the search once that many hits are found, so searching last-first for an
    anchor at the end of a long document only interprets the last page.
    """
    target = _normalised(needle)
    if not target:
        raise EsignError(ErrorCode.BAD_OPTION, detail="the search text is empty")
    if limit is not None and limit < 1:
        raise EsignError(ErrorCode.BAD_OPTION, detail="limit must be at least 1")
    if order not in ("first", "last"):
        raise EsignError(ErrorCode.BAD_OPTION, detail=f"order must be 'first' or 'last', not {order!r}")
    deadline = _Deadline(time_budget)
    with _pdf_errors(pdf):
        _check_inflated_sizes(pdf, deadline)
        document = _open(pdf)
        all_pages = _list_pages(document, deadline)
        hits: list[TextHit] = []
        resources = PDFResourceManager(caching=True)
        for index in _page_order(len(all_pages), pages, order):
            glyphs = _page_glyphs(all_pages[index], resources, deadline)
            boxes = list(_occurrences(glyphs, target))
            hits += [TextHit(index, *box) for box in (reversed(boxes) if order == "last" else boxes)]
            if limit is not None and len(hits) >= limit:
                return hits[:limit]
        return hits


def find_first(pdf: bytes, needle: str, *, pages: Sequence[int] | None = None) -> TextHit | None:
    """The first occurrence in reading order, or None."""
    hits = find_text(pdf, needle, pages=pages, limit=1)
    return hits[0] if hits else None


def find_last(pdf: bytes, needle: str, *, pages: Sequence[int] | None = None) -> TextHit | None:
    """The last occurrence (where a seal anchor usually is), searching from the last page back; or None."""
    hits = find_text(pdf, needle, pages=pages, limit=1, order="last")
    return hits[0] if hits else None


# --- matching -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Glyph:
    text: str
    box: Box


def _normalised(text: str) -> str:
    return "".join(char for char in unicodedata.normalize("NFKC", text) if not char.isspace())


def _occurrences(glyphs: Sequence[_Glyph], target: str) -> Iterator[Box]:
    """Boxes of the non-overlapping occurrences of ``target`` in the glyphs' concatenated text."""
    haystack: list[str] = []
    owner: list[int] = []  # glyph index of every haystack character (ligatures give several)
    for index, glyph in enumerate(glyphs):
        for char in _normalised(glyph.text):
            haystack.append(char)
            owner.append(index)
    text = "".join(haystack)
    start = text.find(target)
    while start >= 0:
        matched = {owner[position] for position in range(start, start + len(target))}
        yield _union([glyphs[index].box for index in sorted(matched)])
        start = text.find(target, start + len(target))


def _union(boxes: Sequence[Box]) -> Box:
    return (
        min(box[0] for box in boxes),
        min(box[1] for box in boxes),
        max(box[2] for box in boxes),
        max(box[3] for box in boxes),
    )


# --- pages and glyphs -----------------------------------------------------------------------------


def _open(pdf: bytes) -> PDFDocument:
    if b"%PDF-" not in pdf[:_HEADER_WINDOW]:
        raise EsignError(ErrorCode.NOT_A_PDF)
    document = PDFDocument(PDFParser(BytesIO(pdf)))
    if document.encryption is not None:
        raise EsignError(ErrorCode.PDF_ENCRYPTED)
    return document


def _list_pages(document: PDFDocument, deadline: _Deadline) -> list[PDFPage]:
    """Page objects only (their content is not parsed yet), so any page can be visited first."""
    pages = []
    for page in PDFPage.create_pages(document):
        deadline.check()
        pages.append(page)
    if not pages:
        raise EsignError(ErrorCode.PDF_CORRUPT, detail="the document has no pages")
    return pages


def _page_order(count: int, pages: Sequence[int] | None, order: Order) -> list[int]:
    if pages is None:
        chosen = set(range(count))
    else:
        for page in pages:
            if not -count <= page < count:
                raise EsignError(ErrorCode.PAGE_OUT_OF_RANGE, page=page, pages=count)
        chosen = {page % count for page in pages}
    return sorted(chosen, reverse=order == "last")


def _page_glyphs(page: PDFPage, resources: PDFResourceManager, deadline: _Deadline) -> list[_Glyph]:
    """The page's visible glyphs in drawing order, boxes in default user space."""
    _check_page_content_size(page, deadline)
    device = _GlyphCollector(resources, deadline)
    PDFPageInterpreter(resources, device).process_page(page)
    to_user_space = _inverse(device.page_matrix)
    crop = tuple(page.cropbox)
    glyphs = []
    for char in _chars(device.layout):
        box = _transform_box(to_user_space, char.bbox)
        if _centre_inside(box, crop):
            glyphs.append(_Glyph(char.get_text(), box))
    return glyphs


class _GlyphCollector(PDFLayoutAnalyzer):
    """pdfminer's layout device without layout analysis; it keeps the page matrix pdfminer chose
    (rotation and MediaBox origin) and checks the time budget as the page is interpreted."""

    def __init__(self, resources: PDFResourceManager, deadline: _Deadline) -> None:
        super().__init__(resources, laparams=None)
        self._deadline = deadline
        self.page_matrix: Matrix = (1, 0, 0, 1, 0, 0)
        self.layout: LTPage | None = None

    def begin_page(self, page: PDFPage, ctm: Matrix) -> None:
        self.page_matrix = ctm
        super().begin_page(page, ctm)

    def begin_figure(self, name: str, bbox: Box, matrix: Matrix) -> None:
        self._deadline.check()
        super().begin_figure(name, bbox, matrix)

    def render_char(self, *args: object, **kwargs: object) -> float:
        self._deadline.check()
        return super().render_char(*args, **kwargs)  # type: ignore[arg-type]

    def receive_layout(self, ltpage: LTPage) -> None:
        self.layout = ltpage


def _chars(item: LTItem | None) -> Iterator[LTChar]:
    """Glyphs in drawing order, including those drawn inside form XObjects."""
    if isinstance(item, LTChar):
        yield item
    elif isinstance(item, LTContainer):
        for child in item:
            yield from _chars(child)


def _inverse(matrix: Matrix) -> Matrix:
    a, b, c, d, e, f = matrix
    det = a * d - b * c
    return (d / det, -b / det, -c / det, a / det, (c * f - d * e) / det, (b * e - a * f) / det)


def _transform_box(matrix: Matrix, box: Box) -> Box:
    a, b, c, d, e, f = matrix
    corners = [(x, y) for x in (box[0], box[2]) for y in (box[1], box[3])]
    xs = [a * x + c * y + e for x, y in corners]
    ys = [b * x + d * y + f for x, y in corners]
    return (min(xs), min(ys), max(xs), max(ys))


def _centre_inside(box: Box, area: Sequence[float]) -> bool:
    x, y = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    return min(area[0], area[2]) <= x <= max(area[0], area[2]) and min(area[1], area[3]) <= y <= max(
        area[1], area[3]
    )


# --- limits -----------------------------------------------------------------------------------------


class _Deadline:
    def __init__(self, seconds: float) -> None:
        self._seconds = seconds
        self._end = time.monotonic() + seconds

    def check(self) -> None:
        if time.monotonic() > self._end:
            raise EsignError(
                ErrorCode.PDF_TOO_COMPLEX, detail=f"text search did not finish within {self._seconds:g} s"
            )


@contextmanager
def _pdf_errors(pdf: bytes) -> Iterator[None]:
    """Turns whatever pdfminer raises on a malformed file into PDF_CORRUPT, or PDF_TRUNCATED when
    the file lacks its final ``%%EOF`` (the usual damage of an interrupted upload).

    pdfminer reports damage with its own exceptions but also with plain ValueError, KeyError,
    TypeError, AssertionError or RecursionError from deep inside, so the net is deliberately wide;
    our own typed errors pass through unchanged.
    """
    try:
        yield
    except EsignError:
        raise
    except PDFEncryptionError as error:
        raise EsignError(ErrorCode.PDF_ENCRYPTED) from error
    except Exception as error:
        if b"%%EOF" not in pdf[-_HEADER_WINDOW:]:
            raise EsignError(ErrorCode.PDF_TRUNCATED) from error
        raise EsignError(ErrorCode.PDF_CORRUPT, detail=f"{type(error).__name__}: {error}"[:200]) from error


def _check_inflated_sizes(pdf: bytes, deadline: _Deadline) -> None:
    """Measures every Flate stream in the file, without keeping its output, before pdfminer (which
    inflates in one unbounded call) sees it; scanning the raw bytes also covers object and xref
    streams, which pdfminer inflates while merely opening the file."""
    for match in _STREAM_KEYWORD.finditer(pdf):
        deadline.check()
        if _inflated_size(memoryview(pdf)[match.end() :], MAX_STREAM_BYTES, deadline) > MAX_STREAM_BYTES:
            raise EsignError(ErrorCode.PDF_TOO_COMPLEX, detail="a stream inflates beyond the size limit")


def _inflated_size(data: bytes | memoryview, cap: int, deadline: _Deadline) -> int:
    """How much zlib data at the start of ``data`` inflates to, counting at most just past ``cap``;
    0 when it is not zlib data at all (raw images, binary noise after the word "stream")."""
    inflater = zlib.decompressobj()
    total, position, pending = 0, 0, b""
    try:
        while not inflater.eof and total <= cap:
            if not pending:
                pending = data[position : position + _INFLATE_CHUNK]
                position += _INFLATE_CHUNK
                if not pending:
                    break
            total += len(inflater.decompress(pending, _INFLATE_CHUNK))
            pending = inflater.unconsumed_tail
            deadline.check()
    except zlib.error:
        pass
    return total


def _check_page_content_size(page: PDFPage, deadline: _Deadline) -> None:
    """Bounds what pdfminer's pure-Python parser must read for this page: its content streams plus
    the form XObjects its resources reach (each counted once)."""
    streams: dict[int, PDFStream] = {}
    for content in page.contents:
        stream = resolve1(content)
        if isinstance(stream, PDFStream):
            streams[id(stream)] = stream
    _collect_forms(page.resources, streams, depth=0)
    total = 0
    for stream in streams.values():
        total += _decoded_size(stream, MAX_PAGE_CONTENT_BYTES - total, deadline)
        if total > MAX_PAGE_CONTENT_BYTES:
            raise EsignError(ErrorCode.PDF_TOO_COMPLEX, detail="a page's content exceeds the size limit")


def _collect_forms(resources: object, streams: dict[int, PDFStream], depth: int) -> None:
    resources = resolve1(resources)
    if depth > _MAX_FORM_DEPTH or not isinstance(resources, dict):
        return
    xobjects = resolve1(resources.get("XObject"))
    if not isinstance(xobjects, dict):
        return
    for reference in xobjects.values():
        form = resolve1(reference)
        if isinstance(form, PDFStream) and resolve1(form.get("Subtype")) is _FORM and id(form) not in streams:
            streams[id(form)] = form
            _collect_forms(form.get("Resources"), streams, depth + 1)


def _decoded_size(stream: PDFStream, cap: int, deadline: _Deadline) -> int:
    """The stream's decoded size, counted just past ``cap``.

    Exact for the usual shapes (no filter, or Flate/LZW possibly preceded by ASCII encodings, which
    only shrink); any other chain is refused through a worst-case bound (deflate's 1032:1 per filter).
    """
    data = stream.get_rawdata()
    if data is None:  # pdfminer decoded it already, for an earlier page
        return len(stream.get_data())
    filters = [name for name, _params in stream.get_filters()]
    for name in filters[:-1]:
        if name in LITERALS_ASCII85_DECODE:
            data = ascii85decode(data)
        elif name in LITERALS_ASCIIHEX_DECODE:
            data = asciihexdecode(data)
        else:
            return len(data) * 1032 ** len(filters)
    last = filters[-1] if filters else None
    if last in LITERALS_FLATE_DECODE:
        return _inflated_size(data, cap, deadline)
    if last in LITERALS_LZW_DECODE:
        total = 0
        for chunk in LZWDecoder(BytesIO(data)).run():
            total += len(chunk)
            if total > cap:
                break
        return total
    return len(data)
