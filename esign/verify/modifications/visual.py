"""Render pages with two independent engines and measure what changed in the picture.

Object comparison cannot tell whether a change is visible, and a change can be visible without any
page object changing (optional content, replaced fonts). So the signed revision (the file prefix that
ends at the revision's %%EOF) and the final file are both rendered — gray, modest DPI, only the pages
that need it, at most ``batch`` pages per call, each call a separate process bounded by the remaining
time budget — and compared pixel by pixel. Two engines read the file, because people use different
viewers and a parser trick aimed at one need not fool the other: poppler (``pdftoppm``, what most Linux
viewers use) and PDFium (Chrome's engine, :mod:`esign.verify.modifications.pdfium_render`).

Thresholds: a pixel counts as changed when its gray value moves by more than :data:`CHANGE_LEVEL`;
a page counts as visually changed when more than :func:`min_changed_pixels` pixels changed (a few
anti-aliasing pixels never do: the same renderer draws identical input identically). Inside regions
where a permitted widget may draw, the question is instead whether signed ink was *erased* (a pixel
darker than :data:`INK_LEVEL` became lighter than :data:`PAPER_LEVEL`).
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import math
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageChops

from esign.verify.modifications import pdfium_render
from esign.verify.modifications.page_changes import PageGeometry

CHANGE_LEVEL = 40
INK_LEVEL = 128
PAPER_LEVEL = 200
#: Largest page bitmap we let an engine allocate (gray: one byte per pixel); bigger pages render at lower DPI.
MAX_PAGE_PIXELS = 16_000_000
#: Margin around annotation rectangles, in pixels, for anti-aliased edges.
RECT_MARGIN = 2
#: Address space one PDFium process may use (``Limits.render_memory_mb``): a 600-DPI scan of an A4 page
#: decodes to about 100 MB, an image bomb to gigabytes.
DEFAULT_RENDER_MEMORY_MB = 1024

Rect = tuple[float, float, float, float]
PixelBox = tuple[int, int, int, int]


class RenderError(RuntimeError):
    """An engine could not open the file or render a page."""


class RenderTimeout(RenderError):
    """Rendering did not finish within the remaining time budget."""


class EngineUnavailable(RenderError):
    """The engine is not installed: says nothing about the file."""


class RenderLimitExceeded(RenderError):
    """The engine process outgrew its memory limit and was ended: the page was not rendered."""


#: (source, dpi, first, last, output prefix, memory limit in MiB) → command line; first > last = only
#: count the pages
Command = Callable[[Path, int, int, int, Path, int], list[str]]


@dataclass(frozen=True)
class Engine:
    """A renderer run as a separate process that writes ``<prefix>-<page>.pgm`` files."""

    name: str
    command: Command
    #: the line of its output (stdout) that states the page count
    page_count_line: re.Pattern[bytes]
    #: lines ``annots <page> <count>`` the engine prints while rendering (None: it tells nothing)
    annotation_line: re.Pattern[bytes] | None = None
    #: the exit status with which the process says it outgrew its memory limit
    out_of_memory_status: int | None = None


def _poppler(source: Path, dpi: int, first: int, last: int, prefix: Path, memory_mb: int) -> list[str]:
    tool = "pdftoppm" if first <= last else "pdfinfo"
    binary = shutil.which(tool)
    if binary is None:
        raise EngineUnavailable(f"{tool} (poppler-utils) is not installed")
    if first > last:
        return [binary, str(source)]
    pages = ["-f", str(first), "-l", str(last)]
    return [binary, "-q", "-gray", "-r", str(dpi), *pages, str(source), str(prefix)]


def _pdfium(source: Path, dpi: int, first: int, last: int, prefix: Path, memory_mb: int) -> list[str]:
    pages = [str(first), str(last)] if first <= last else []
    script = [
        pdfium_render.__file__,
        _pdfium_site(),
        str(dpi),
        str(MAX_PAGE_PIXELS),
        str(memory_mb),
        str(source),
        str(prefix),
    ]
    return [sys.executable, "-I", "-S", *script, *pages]


@functools.cache
def _pdfium_site() -> str:
    """The directory pypdfium2 is installed in, found without importing (and loading) PDFium here."""
    spec = importlib.util.find_spec("pypdfium2")
    if spec is None or not spec.submodule_search_locations:
        raise EngineUnavailable("pypdfium2 is not installed")
    return str(Path(next(iter(spec.submodule_search_locations))).parent)


POPPLER = Engine("poppler", _poppler, re.compile(rb"^Pages:\s+(\d+)", re.M))
PDFIUM = Engine(
    "PDFium",
    _pdfium,
    re.compile(rb"^pages (\d+)", re.M),
    re.compile(rb"^annots (\d+) (\d+)$", re.M),
    pdfium_render.EXIT_OUT_OF_MEMORY,
)
#: every engine a page is judged in; a page that changed in any of them changed
ENGINES = (POPPLER, PDFIUM)


@dataclass(frozen=True)
class PixelDiff:
    """Changed-pixel counts of one page, overall and per region (regions given in PDF user space)."""

    size_changed: bool
    changed_outside: int  # changed pixels outside every region
    changed_in: tuple[int, ...]
    erased_in: tuple[int, ...]  # signed ink that became paper
    revealed_in: tuple[int, ...]  # signed paper that became ink
    ink_in: tuple[int, ...]  # ink of the signed rendering under each region
    #: ink of the signed rendering that is drawn differently now (erased or painted over)
    covered_in: tuple[int, ...] = ()


def min_changed_pixels(dpi: int) -> int:
    """About one small glyph stroke at 72 DPI, scaled to the rendering resolution."""
    return max(3, round(6 * (dpi / 72) ** 2))


def page_dpi(geometry: PageGeometry, dpi: int) -> int:
    """``dpi``, lowered for huge pages so one bitmap stays under :data:`MAX_PAGE_PIXELS`."""
    x0, y0, x1, y1 = geometry.media_box
    area_in2 = max(abs(x1 - x0) * abs(y1 - y0), 1.0) / (72 * 72)
    return max(1, min(dpi, int(math.sqrt(MAX_PAGE_PIXELS / area_in2))))


def render_pages(
    pdf: bytes,
    pages: Sequence[int],
    dpi: int,
    deadline: float,
    batch: int,
    engine: Engine = POPPLER,
    memory_mb: int = DEFAULT_RENDER_MEMORY_MB,
) -> dict[int, Image.Image]:
    """Gray bitmaps of the 1-based ``pages`` of ``pdf``; one engine call per run of consecutive pages.

    ``memory_mb`` bounds each PDFium process (:class:`RenderLimitExceeded` when it is reached).
    """
    if not pages:
        return {}
    images: dict[int, Image.Image] = {}
    with tempfile.TemporaryDirectory(prefix="esign-render-") as tmp:
        source = Path(tmp) / "in.pdf"
        source.write_bytes(pdf)
        for first, last in _runs(sorted(set(pages)), batch):
            prefix = Path(tmp) / f"p{first}"
            cmd = engine.command(source, dpi, first, last, prefix, memory_mb)
            out = _run(engine, cmd, deadline, f"pages {first}-{last}")
            _keep_count(pdf, engine, out)
            _keep_annotations(pdf, engine, out)
            for out in Path(tmp).glob(f"p{first}-*.pgm"):
                number = int(re.search(r"-(\d+)\.pgm$", out.name).group(1))  # type: ignore[union-attr]
                with Image.open(out) as img:
                    images[number] = img.convert("L")
                out.unlink()
    missing = set(pages) - images.keys()
    if missing:
        raise RenderError(f"{engine.name} produced no image for pages {sorted(missing)}")
    return images


def page_count(pdf: bytes, engine: Engine, deadline: float) -> int:
    """How many pages ``engine`` sees in ``pdf``; RenderError when it cannot open the file.

    The answers for the last few files are kept (by content digest): every signature of a document
    asks about the same final file.
    """
    key = (engine.name, _sha256(pdf))
    with _COUNTS_LOCK:
        answer = _COUNTS.get(key)
    if answer is None:
        try:
            answer = _count_pages(pdf, engine, deadline)
        except (EngineUnavailable, RenderTimeout):
            raise  # about this machine or this moment, not about the file: not kept
        except RenderError as e:
            answer = str(e)
        _keep(key, answer)
    if isinstance(answer, str):
        raise RenderError(answer)
    return answer


COUNTS_KEPT = 32
_COUNTS: dict[tuple[str, bytes], int | str] = {}
_COUNTS_LOCK = threading.Lock()


#: (file, SHA-256) of the files being judged now: the caches below are keyed by content, and hashing
#: a 10 MB file for every render and count call was a fifth of its verification
_RECENT_DIGESTS: list[tuple[bytes, bytes]] = []


def _sha256(pdf: bytes) -> bytes:
    with _COUNTS_LOCK:
        for data, digest in _RECENT_DIGESTS:
            if data is pdf:  # the very object, not equal bytes: an identity can't go stale while held
                return digest
    digest = hashlib.sha256(pdf).digest()
    with _COUNTS_LOCK:
        _RECENT_DIGESTS.append((pdf, digest))
        del _RECENT_DIGESTS[:-2]  # the signed revision and the final file
    return digest


def forget_files() -> None:
    """Let go of the files :func:`_sha256` holds on to (call when a document's judgement is over)."""
    with _COUNTS_LOCK:
        _RECENT_DIGESTS.clear()


def _keep(key: tuple[str, bytes], answer: int | str) -> None:
    with _COUNTS_LOCK:
        _COUNTS[key] = answer
        while len(_COUNTS) > COUNTS_KEPT:
            _COUNTS.pop(next(iter(_COUNTS)))


def annotation_counts(pdf: bytes) -> dict[int, int]:
    """Page → annotations PDFium found there, for the pages of ``pdf`` it rendered lately ({} if none)."""
    digest = _sha256(pdf)  # before the lock: it takes the lock itself
    with _COUNTS_LOCK:
        return dict(_ANNOTATIONS.get(digest, {}))


_ANNOTATIONS: dict[bytes, dict[int, int]] = {}


def _keep_annotations(pdf: bytes, engine: Engine, out: bytes) -> None:
    if engine.annotation_line is None:
        return
    found = {int(m.group(1)): int(m.group(2)) for m in engine.annotation_line.finditer(out)}
    digest = _sha256(pdf)
    with _COUNTS_LOCK:
        _ANNOTATIONS.setdefault(digest, {}).update(found)
        while len(_ANNOTATIONS) > COUNTS_KEPT:
            _ANNOTATIONS.pop(next(iter(_ANNOTATIONS)))


def _keep_count(pdf: bytes, engine: Engine, out: bytes) -> None:
    """An engine that states the page count while rendering (PDFium) saves a process for asking."""
    count = _stated_count(engine, out)
    if count is not None:
        _keep((engine.name, _sha256(pdf)), count)


def _count_pages(pdf: bytes, engine: Engine, deadline: float) -> int:
    with tempfile.TemporaryDirectory(prefix="esign-count-") as tmp:
        source = Path(tmp) / "in.pdf"
        source.write_bytes(pdf)
        cmd = engine.command(source, 72, 1, 0, Path(tmp) / "p", DEFAULT_RENDER_MEMORY_MB)
        out = _run(engine, cmd, deadline, "the page count")
    count = _stated_count(engine, out)
    if count is None:
        raise RenderError(f"{engine.name} reported no page count")
    return count


def _stated_count(engine: Engine, out: bytes) -> int | None:
    # the last such line: pdfinfo prints the document's own strings (a title may hold "\nPages: 9") first
    found = list(engine.page_count_line.finditer(out))
    return int(found[-1].group(1)) if found else None


def _run(engine: Engine, cmd: list[str], deadline: float, what: str) -> bytes:
    """Run one engine process within the time budget; its stdout, or RenderError with its complaint."""
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise RenderTimeout("time budget exhausted before rendering")
    try:
        done = subprocess.run(cmd, capture_output=True, timeout=remaining, check=False)
    except subprocess.TimeoutExpired as e:
        raise RenderTimeout(f"{engine.name} exceeded the time budget on {what}") from e
    if done.returncode != 0 and done.returncode == engine.out_of_memory_status:
        raise RenderLimitExceeded(f"{engine.name} reached its memory limit on {what}")
    if done.returncode != 0:
        raise RenderError(f"{engine.name} failed on {what}: {done.stderr[:200]!r}")
    return done.stdout


def _runs(pages: Sequence[int], batch: int) -> Iterable[tuple[int, int]]:
    start = prev = None
    for p in pages:
        if start is not None and p == prev + 1 and p - start < batch:  # type: ignore[operator]
            prev = p
            continue
        if start is not None:
            yield start, prev  # type: ignore[misc]
        start = prev = p
    if start is not None:
        yield start, prev  # type: ignore[misc]


def compare(old: Image.Image, new: Image.Image, geometry: PageGeometry, regions: Sequence[Rect]) -> PixelDiff:
    """Changed, erased, covered and inked pixel counts; regions are mapped from PDF space onto the bitmap."""
    zeros = tuple(0 for _ in regions)
    if old.size != new.size:
        everything = old.size[0] * old.size[1]
        return PixelDiff(True, everything, zeros, zeros, zeros, zeros, zeros)
    changed = ImageChops.difference(old, new).point(lambda v: 255 if v > CHANGE_LEVEL else 0)
    boxes = [_to_pixels(r, geometry, old.size) for r in regions]
    changed_in = tuple(_count(changed.crop(b)) for b in boxes)
    ink_old = old.point(lambda v: 255 if v < INK_LEVEL else 0)
    paper_new = new.point(lambda v: 255 if v > PAPER_LEVEL else 0)
    erased = ImageChops.multiply(ink_old, paper_new)
    erased_in = tuple(_count(erased.crop(b)) for b in boxes)
    ink_in = tuple(_count(ink_old.crop(b)) for b in boxes)
    paper_old = old.point(lambda v: 255 if v > PAPER_LEVEL else 0)
    ink_new = new.point(lambda v: 255 if v < INK_LEVEL else 0)
    revealed_in = tuple(_count(ImageChops.multiply(paper_old, ink_new).crop(b)) for b in boxes)
    covered = ImageChops.multiply(ink_old, changed)
    covered_in = tuple(_count(covered.crop(b)) for b in boxes)
    outside = changed.copy()
    for b in boxes:
        outside.paste(0, b)
    return PixelDiff(False, _count(outside), changed_in, erased_in, revealed_in, ink_in, covered_in)


def _count(mask: Image.Image) -> int:
    """Number of nonzero pixels of a 0/255 mask."""
    return mask.histogram()[255] if mask.width and mask.height else 0


def _to_pixels(rect: Rect, geometry: PageGeometry, size: tuple[int, int]) -> PixelBox:
    """Map a user-space rectangle to a pixel box of a rendering of the MediaBox with /Rotate applied."""
    bx0, by0, bx1, by1 = geometry.media_box
    width_pt, height_pt = bx1 - bx0, by1 - by0
    rotate = geometry.rotate
    # top-left based unrotated coordinates, in points
    left, right = rect[0] - bx0, rect[2] - bx0
    top, bottom = by1 - rect[3], by1 - rect[1]
    if rotate == 90:
        left, right, top, bottom = height_pt - bottom, height_pt - top, left, right
    elif rotate == 180:
        left, right, top, bottom = width_pt - right, width_pt - left, height_pt - bottom, height_pt - top
    elif rotate == 270:
        left, right, top, bottom = top, bottom, width_pt - right, width_pt - left
    page_w_pt, page_h_pt = (height_pt, width_pt) if rotate in (90, 270) else (width_pt, height_pt)
    sx, sy = size[0] / max(page_w_pt, 1e-6), size[1] / max(page_h_pt, 1e-6)
    return (
        max(0, math.floor(left * sx) - RECT_MARGIN),
        max(0, math.floor(top * sy) - RECT_MARGIN),
        min(size[0], math.ceil(right * sx) + RECT_MARGIN),
        min(size[1], math.ceil(bottom * sy) + RECT_MARGIN),
    )
