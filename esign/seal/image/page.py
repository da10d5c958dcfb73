"""The seal image as a value: a one-page PDF of exactly the seal's size, plus PNG/SVG exports.

PDF is the master format because the signing core imports the page as a form XObject, which keeps
vector outlines and real text. PNG and SVG are rendered from it by poppler (``pdftocairo``), so
what a user previews is what a PDF viewer shows.
"""

from __future__ import annotations

import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from io import BytesIO
from pathlib import Path

import pikepdf

from esign.errors import ErrorCode, EsignError

PT_PER_MM = 72 / 25.4
#: exports above this resolution only make huge files; print shops work at 300–600 dpi
MAX_EXPORT_DPI = 1200
MIN_EXPORT_DPI = 36
_RENDER_TIMEOUT_S = 30


@dataclass(frozen=True)
class SealImage:
    """A seal appearance: ``pdf`` is one page whose MediaBox is the seal, transparent around it."""

    pdf: bytes
    width_mm: float
    height_mm: float

    def png(self, dpi: int = 300) -> bytes:
        """A PNG with an alpha channel: transparent outside the seal's ink."""
        if not MIN_EXPORT_DPI <= dpi <= MAX_EXPORT_DPI:
            raise EsignError(
                ErrorCode.BAD_OPTION, detail=f"dpi must be {MIN_EXPORT_DPI}–{MAX_EXPORT_DPI}, not {dpi}"
            )
        return _pdftocairo(self.pdf, ["-png", "-transp", "-singlefile", "-r", str(dpi)], ".png")

    def svg(self) -> bytes:
        """An SVG with the text converted to outlines (SVG viewers lack the embedded CFF font)."""
        return _pdftocairo(self.pdf, ["-svg"], ".svg")


def check_size_mm(field: str, value: float, bounds: tuple[float, float]) -> None:
    """Refuse a size outside ``bounds`` (mm), and anything that is not a number at all."""
    if not (isinstance(value, int | float) and bounds[0] <= value <= bounds[1]):
        raise EsignError(
            ErrorCode.BAD_OPTION, detail=f"{field} must be {bounds[0]:g}–{bounds[1]:g} mm, not {value!r}"
        )


def single_page_pdf(
    width_mm: float,
    height_mm: float,
    content: bytes,
    resources: Callable[[pikepdf.Pdf], pikepdf.Dictionary],
) -> bytes:
    """Wrap ``content`` (a content stream in points) in a one-page PDF with reproducible bytes.

    ``resources`` builds the page's resource dictionary inside the new document, because font and
    image streams must belong to the PDF that holds them. The trailer /ID is derived from the
    content, and nothing time- or random-dependent is written, so the same seal gives the same
    bytes and registries can cache by content hash.
    """
    pdf = pikepdf.Pdf.new()
    media_box = [0, 0, _points(width_mm), _points(height_mm)]
    page = pikepdf.Dictionary(
        Type=pikepdf.Name.Page,
        MediaBox=pikepdf.Array(media_box),
        Resources=resources(pdf),
        Contents=pdf.make_stream(content),
    )
    pdf.pages.append(pikepdf.Page(page))
    buffer = BytesIO()
    pdf.save(buffer, deterministic_id=True, compress_streams=True, fix_metadata_version=False)
    return buffer.getvalue()


def _points(mm: float) -> pikepdf.Object:
    """mm → pt as a PDF real with 3 decimals, so 42 mm is 119.055 pt whatever the float noise."""
    return pikepdf.Object.parse(str(Decimal(mm * PT_PER_MM).quantize(Decimal("0.001"))).encode())


def _pdftocairo(pdf: bytes, options: list[str], suffix: str) -> bytes:
    with tempfile.TemporaryDirectory(prefix="esign-seal-") as tmp:
        source = Path(tmp, "seal.pdf")
        source.write_bytes(pdf)
        target = Path(tmp, "seal" + suffix)
        # -png with -singlefile appends the extension itself; -svg takes the full output name
        output = target.with_suffix("") if suffix == ".png" else target
        try:
            subprocess.run(
                ["pdftocairo", *options, str(source), str(output)],
                check=True,
                capture_output=True,
                timeout=_RENDER_TIMEOUT_S,
            )
        except FileNotFoundError as exc:
            detail = "pdftocairo (poppler-utils) is not installed"
            raise EsignError(ErrorCode.RENDER_FAILED, detail=detail) from exc
        except subprocess.TimeoutExpired as exc:
            detail = f"pdftocairo took over {_RENDER_TIMEOUT_S} s"
            raise EsignError(ErrorCode.RENDER_FAILED, detail=detail) from exc
        except subprocess.CalledProcessError as exc:
            detail = exc.stderr.decode(errors="replace").strip()[:200] or f"exit status {exc.returncode}"
            raise EsignError(ErrorCode.RENDER_FAILED, detail=detail) from exc
        return target.read_bytes()
