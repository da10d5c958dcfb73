"""PDFs of a chosen size, shaped like what intake systems send: scanned pages, one image each.

The large-upload tests and ``bench/load.py`` need documents of 60 KB to 50 MB. Each page carries a
greyscale "scan" of seeded pseudo-random bytes (incompressible, so the size on the wire is the size
asked for, and the same on every run) and a line of text; the last page's image takes up the rest.
"""

from __future__ import annotations

import io
import random

import pikepdf

__all__ = ["sized_pdf"]

#: one scanned page: 1024 × 640 grey pixels
_PAGE_WIDTH = 1024
_PAGE_BYTES = _PAGE_WIDTH * 640
#: the catalogue, page tree, fonts, xref and per-page objects, measured for a few sizes
_OVERHEAD = 400
_PER_PAGE = 510


def sized_pdf(size: int, seed: int = 20261208) -> bytes:
    """A valid PDF of about ``size`` bytes (within a kilobyte) with ⌈size / 640 KiB⌉ scanned pages."""
    noise = random.Random(seed)
    pages = max(1, -(-size // _PAGE_BYTES))
    remaining = max(_PAGE_WIDTH, size - _OVERHEAD - pages * _PER_PAGE)
    pdf = pikepdf.new()
    font = pdf.make_indirect(
        pikepdf.Dictionary(
            Type=pikepdf.Name.Font, Subtype=pikepdf.Name.Type1, BaseFont=pikepdf.Name.Helvetica
        )
    )
    for index in range(pages):
        rows = max(1, min(_PAGE_BYTES, remaining) // _PAGE_WIDTH)
        remaining -= rows * _PAGE_WIDTH
        image = pikepdf.Stream(
            pdf,
            noise.randbytes(rows * _PAGE_WIDTH),
            Type=pikepdf.Name.XObject,
            Subtype=pikepdf.Name.Image,
            Width=_PAGE_WIDTH,
            Height=rows,
            ColorSpace=pikepdf.Name.DeviceGray,
            BitsPerComponent=8,
        )
        text = f"BT /F1 12 Tf 72 800 Td (Scanned page {index + 1} of {pages}) Tj ET"
        draw = (
            f"q 451 0 0 {451 * rows / _PAGE_WIDTH:.2f} 72 {780 - 451 * rows / _PAGE_WIDTH:.2f} cm /Im0 Do Q "
        )
        page = pdf.add_blank_page(page_size=(595, 842))
        page.Resources = pikepdf.Dictionary(
            Font=pikepdf.Dictionary(F1=font), XObject=pikepdf.Dictionary(Im0=pdf.make_indirect(image))
        )
        page.Contents = pdf.make_stream((draw + text).encode())
    out = io.BytesIO()
    pdf.save(out, compress_streams=False, object_stream_mode=pikepdf.ObjectStreamMode.disable)
    return out.getvalue()
