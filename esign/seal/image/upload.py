"""Uploaded seal images: a transparent PNG turned into a one-page PDF with a soft mask.

Uploads are hostile until proven otherwise. The byte size and the pixel dimensions written in the
PNG header are checked before any decoding, so a tiny file that claims 100000×100000 pixels (a
decompression bomb) is refused without allocating its pixels; every decoder failure becomes
``BAD_IMAGE`` instead of a stack trace.
"""

from __future__ import annotations

import struct
import zlib
from io import BytesIO

import pikepdf
from PIL import Image

from esign.errors import ErrorCode, EsignError
from esign.seal.image.page import PT_PER_MM, SealImage, check_size_mm, single_page_pdf

MAX_PNG_BYTES = 5 * 1024 * 1024
MAX_PNG_SIDE = 4096
#: printed size accepted for an uploaded seal, in mm (either side)
UPLOAD_SIZE_MM = (10.0, 100.0)
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def seal_from_png(data: bytes, width_mm: float, height_mm: float | None = None) -> SealImage:
    """Wrap an uploaded PNG seal; ``height_mm`` defaults to the one keeping the image's aspect ratio.

    The PNG must have transparent pixels: an opaque rectangle would hide the document text under
    the seal, which is exactly what a seal must never do.
    """
    width_px, height_px = _checked_header(data)
    if height_mm is None:
        height_mm = width_mm * height_px / width_px
    check_size_mm("width_mm", width_mm, UPLOAD_SIZE_MM)
    check_size_mm("height_mm", height_mm, UPLOAD_SIZE_MM)
    rgba = _decoded(data)
    alpha = rgba.getchannel("A")
    if alpha.getextrema()[0] == 255:
        detail = "the PNG has no transparent pixels (a seal needs a transparent background)"
        raise EsignError(ErrorCode.BAD_IMAGE, detail=detail)
    content = f"{width_mm * PT_PER_MM:.3f} 0 0 {height_mm * PT_PER_MM:.3f} 0 0 cm /Seal Do".encode("ascii")

    def resources(pdf: pikepdf.Pdf) -> pikepdf.Dictionary:
        mask = _image_stream(pdf, alpha.tobytes(), rgba.size, pikepdf.Name.DeviceGray)
        image = _image_stream(pdf, rgba.convert("RGB").tobytes(), rgba.size, pikepdf.Name.DeviceRGB)
        image.SMask = mask
        return pikepdf.Dictionary(XObject=pikepdf.Dictionary(Seal=image))

    pdf = single_page_pdf(width_mm, height_mm, content, resources)
    return SealImage(pdf=pdf, width_mm=width_mm, height_mm=height_mm)


def _checked_header(data: bytes) -> tuple[int, int]:
    """Width and height from the IHDR chunk, refused before decoding if the file is too big."""
    if isinstance(data, bytes | bytearray) and len(data) > MAX_PNG_BYTES:
        raise EsignError(ErrorCode.BAD_IMAGE, detail=f"larger than {MAX_PNG_BYTES} bytes")
    if not isinstance(data, bytes | bytearray) or not data.startswith(_PNG_SIGNATURE):
        raise EsignError(ErrorCode.BAD_IMAGE, detail="not a PNG file")
    # the IHDR chunk must come first: length 13, type, width, height (big-endian)
    if len(data) < 33 or data[12:16] != b"IHDR":
        raise EsignError(ErrorCode.BAD_IMAGE, detail="the PNG header is missing or truncated")
    width, height = struct.unpack(">II", data[16:24])
    if not (0 < width <= MAX_PNG_SIDE and 0 < height <= MAX_PNG_SIDE):
        raise EsignError(
            ErrorCode.BAD_IMAGE, detail=f"{width}×{height} pixels (limit {MAX_PNG_SIDE}×{MAX_PNG_SIDE})"
        )
    return width, height


def _decoded(data: bytes) -> Image.Image:
    """The fully decoded image as RGBA; truncated or corrupt data is refused."""
    try:
        with Image.open(BytesIO(data), formats=["PNG"]) as image:
            image.load()
            return image.convert("RGBA")
    except (OSError, SyntaxError, ValueError, EOFError, zlib.error, Image.DecompressionBombError) as exc:
        raise EsignError(ErrorCode.BAD_IMAGE, detail=f"the PNG cannot be decoded ({exc})") from exc


def _image_stream(
    pdf: pikepdf.Pdf, samples: bytes, size: tuple[int, int], colour_space: pikepdf.Name
) -> pikepdf.Stream:
    return pdf.make_stream(
        samples,
        Type=pikepdf.Name.XObject,
        Subtype=pikepdf.Name.Image,
        Width=size[0],
        Height=size[1],
        ColorSpace=colour_space,
        BitsPerComponent=8,
        Interpolate=True,
    )
