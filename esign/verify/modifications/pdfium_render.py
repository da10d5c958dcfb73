"""PDFium (Chrome's PDF engine, through pypdfium2) as a renderer process shaped like poppler's pdftoppm.

Run as ``python -I -S pdfium_render.py SITE DPI MAX_PIXELS MEMORY_MB SOURCE PREFIX [FIRST LAST]``: prints
``pages N`` (the page count PDFium sees), then writes ``PREFIX-<n>.pgm`` (8-bit gray) for pages
FIRST..LAST, each followed by a line ``annots <n> <count>`` (the annotations PDFium finds there,
links and popups not counted, :mod:`esign.verify.modifications.annotation_views`), at a lower
resolution where a page would exceed MAX_PIXELS (the caller chose DPI from its own reading of the page
size; PDFium's may differ, and memory must stay bounded either way). Exit status
2 when PDFium cannot open the file, 3 when a page is out of its range or cannot be rendered, 4 when the
process outgrew MEMORY_MB of address space (0 = no limit) and was ended. SITE is
the directory pypdfium2 is installed in: without the site machinery (-S) the interpreter starts in a
tenth of the time, which matters when every verified update starts a few of these.

Why a separate process and not a library call: the verifier feeds it hostile files. A process can be
stopped when the time budget runs out and its memory is returned when it ends, and a crash inside the
C library ends this process, not the server. It imports nothing from esign, so it runs isolated (-I).

Why the memory limit is a watchdog and not RLIMIT_AS: PDFium decodes an image whole (a 420 KB file with
a 12000 × 12000 image took 450 MB), and under RLIMIT_AS a refused allocation makes it leave the image
out *silently* — the page renders blank with exit status 0, which would let a hostile image hide in
PDFium's picture. So a thread reads this process's size from /proc every few milliseconds (PDFium runs
with the GIL released) and ends the process with status 4 the moment it passes the limit: the caller
learns that the page was not rendered instead of getting a wrong picture. Where /proc is missing,
RLIMIT_AS is the fallback.

Rendering matches what Chrome shows: forms initialised (widgets drawn by the form-fill layer, which
honours /NeedAppearances), annotations drawn, the MediaBox rendered (as pdftoppm does, so user-space
rectangles map onto both engines' bitmaps alike), /Rotate applied.
"""

from __future__ import annotations

import os
import resource
import sys
import threading
import time

EXIT_CANNOT_OPEN = 2
EXIT_BAD_PAGE = 3
EXIT_OUT_OF_MEMORY = 4
#: how often the watchdog reads the process size; PDFium fills memory at about 1 GB/s
WATCH_INTERVAL_S = 0.004


def main(argv: list[str]) -> int:
    sys.path.insert(0, argv[0])
    limit_memory(int(argv[3]))
    import pypdfium2 as pdfium

    dpi, max_pixels, source, prefix = float(argv[1]), int(argv[2]), argv[4], argv[5]
    first, last = (int(argv[6]), int(argv[7])) if len(argv) > 7 else (1, 0)
    try:
        doc = pdfium.PdfDocument(source)
    except pdfium.PdfiumError as e:
        print(f"PDFium cannot open the file: {e}", file=sys.stderr)
        return EXIT_CANNOT_OPEN
    try:
        count = len(doc)
        print(f"pages {count}", flush=True)
        if last >= first and not 1 <= first <= last <= count:
            print(f"pages {first}-{last} outside 1-{count}", file=sys.stderr)
            return EXIT_BAD_PAGE
        doc.init_forms()
        for number in range(first, last + 1):
            _render(doc, number, dpi, max_pixels, f"{prefix}-{number}.pgm")
            print(f"annots {number} {_annotations(doc, number)}", flush=True)
    except pdfium.PdfiumError as e:
        print(f"PDFium failed: {e}", file=sys.stderr)
        return EXIT_BAD_PAGE
    finally:
        doc.close()
    return 0


def limit_memory(limit_mb: int) -> None:
    """End this process (status 4) as soon as its address space passes ``limit_mb`` MiB; 0 = no limit."""
    if limit_mb <= 0:
        return
    limit = limit_mb * 2**20
    try:
        statm = open("/proc/self/statm", "rb", buffering=0)  # noqa: SIM115 (open for the thread's life)
    except OSError:
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
        return
    page = os.sysconf("SC_PAGE_SIZE")

    def watch() -> None:
        while True:
            statm.seek(0)
            if int(statm.read().split()[0]) * page > limit:
                os.write(2, b"PDFium exceeded its memory limit of %d MB\n" % limit_mb)
                os._exit(EXIT_OUT_OF_MEMORY)
            time.sleep(WATCH_INTERVAL_S)

    threading.Thread(target=watch, name="memory-limit", daemon=True).start()


def _annotations(doc, number: int) -> int:
    """How many annotations (dictionaries, links and popups aside) PDFium finds on the page."""
    import pypdfium2.raw as raw

    page = doc[number - 1]
    count = 0
    try:
        for i in range(raw.FPDFPage_GetAnnotCount(page.raw)):
            annot = raw.FPDFPage_GetAnnot(page.raw, i)
            if not annot:
                continue
            if raw.FPDFAnnot_GetSubtype(annot) not in (raw.FPDF_ANNOT_LINK, raw.FPDF_ANNOT_POPUP):
                count += 1
            raw.FPDFPage_CloseAnnot(annot)
    finally:
        page.close()
    return count


def _render(doc, number: int, dpi: float, max_pixels: int, target: str) -> None:
    page = doc[number - 1]
    try:
        page.set_cropbox(*page.get_mediabox())
        width, height = page.get_size()
        scale = min(dpi / 72, (max_pixels / max(width * height, 1.0)) ** 0.5)
        bitmap = page.render(scale=scale, grayscale=True, draw_annots=True, may_draw_forms=True)
        try:
            bitmap.to_pil().convert("L").save(target, format="PPM")
        finally:
            bitmap.close()
    finally:
        page.close()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
