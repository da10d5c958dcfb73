"""PDFium (Chrome's PDF engine, through pypdfium2) as a renderer process shaped like poppler's pdftoppm.

Run as ``python -I -S pdfium_render.py SITE DPI MAX_PIXELS SOURCE PREFIX [FIRST LAST]``: prints
``pages N`` (the page count PDFium sees), then writes ``PREFIX-<n>.pgm`` (8-bit gray) for pages
FIRST..LAST, at a lower resolution where a page would exceed MAX_PIXELS (the caller chose DPI from its
own reading of the page size; PDFium's may differ, and memory must stay bounded either way). Exit status
2 when PDFium cannot open the file, 3 when a page is out of its range or cannot be rendered. SITE is
the directory pypdfium2 is installed in: without the site machinery (-S) the interpreter starts in a
tenth of the time, which matters when every verified update starts a few of these.

Why a separate process and not a library call: the verifier feeds it hostile files. A process can be
stopped when the time budget runs out and its memory is returned when it ends, and a crash inside the
C library ends this process, not the server. It imports nothing from esign, so it runs isolated (-I).

Rendering matches what Chrome shows: forms initialised (widgets drawn by the form-fill layer, which
honours /NeedAppearances), annotations drawn, the MediaBox rendered (as pdftoppm does, so user-space
rectangles map onto both engines' bitmaps alike), /Rotate applied.
"""

from __future__ import annotations

import sys

EXIT_CANNOT_OPEN = 2
EXIT_BAD_PAGE = 3


def main(argv: list[str]) -> int:
    sys.path.insert(0, argv[0])
    import pypdfium2 as pdfium

    dpi, max_pixels, source, prefix = float(argv[1]), int(argv[2]), argv[3], argv[4]
    first, last = (int(argv[5]), int(argv[6])) if len(argv) > 6 else (1, 0)
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
    except pdfium.PdfiumError as e:
        print(f"PDFium failed: {e}", file=sys.stderr)
        return EXIT_BAD_PAGE
    finally:
        doc.close()
    return 0


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
