"""Open a PDF for sealing, turning every way it can be unusable into one typed error.

Sealing refuses what it cannot seal faithfully: non-PDF bytes, truncated or corrupt files and
encrypted documents (a seal over content the agency cannot read is meaningless). pyHanko's own
exceptions never leave this module.
"""

from __future__ import annotations

import zlib
from io import BytesIO

from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.misc import PdfError

from esign.errors import ErrorCode, EsignError

__all__ = ["PARSER_CRASHES", "looks_like_pdf", "open_for_update"]

#: what PDF code may raise on garbage besides its own PdfError (malformed numbers, bad nesting, cycles …)
PARSER_CRASHES: tuple[type[BaseException], ...] = (
    PdfError,
    ValueError,
    TypeError,
    KeyError,
    IndexError,
    AttributeError,
    RecursionError,
    OverflowError,
    zlib.error,
    AssertionError,  # pyHanko asserts on some malformed structures (an xref stream's /Type, subsections)
    NotImplementedError,  # an unknown filter name (one damaged byte of an xref stream's /Filter)
)

#: where the header may sit: ISO 32000 allows leading garbage, readers accept it within 1 KiB
_HEADER_WINDOW = 1024
_TRAILER_WINDOW = 2048


def looks_like_pdf(data: bytes) -> bool:
    return b"%PDF-" in data[:_HEADER_WINDOW]


def open_for_update(pdf: bytes) -> IncrementalPdfFileWriter:
    """An incremental writer over ``pdf``, or a typed EsignError saying why it cannot be sealed."""
    if not looks_like_pdf(pdf):
        raise EsignError(ErrorCode.NOT_A_PDF)
    if b"%%EOF" not in pdf[-_TRAILER_WINDOW:]:
        raise EsignError(ErrorCode.PDF_TRUNCATED)
    try:
        writer = IncrementalPdfFileWriter(BytesIO(pdf))
        encrypted = writer.prev.encrypted
        if not encrypted:
            writer.root["/Pages"]["/Count"]
    except PARSER_CRASHES as exc:
        raise EsignError(ErrorCode.PDF_CORRUPT, detail=type(exc).__name__) from exc
    if encrypted:
        raise EsignError(ErrorCode.PDF_ENCRYPTED)
    return writer
