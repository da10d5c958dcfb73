"""The mutations of ``bench/fuzz_verify.py``: what a forger or a broken tool does to a sealed PDF.

Each mutator takes a seeded :class:`random.Random` and the sealed bytes and returns the mutant with a
short description. Three families, weighted in :data:`MUTATORS`:

* structure: byte flips (anywhere, or next to a structural keyword), ``startxref``, ``/Prev``, ``/W``,
  xref entries (classic tables and decoded xref streams), truncation, inserted bytes, trailing bytes,
  whole documents appended;
* incremental updates written with pyHanko's writer (as a table or a stream, chosen at random) that
  change page content, add annotations, hide the seal with optional content or flags, add JavaScript,
  set ``/NeedAppearances``, change form flags, pages or ``/Info`` — and then, half of the time, damage
  the update's own cross-reference section the way a viewer-differential forgery does;
* token bombs: huge strings and names, deep nesting, long arrays, many objects.
"""

from __future__ import annotations

import random
import re
import zlib
from collections.abc import Callable
from io import BytesIO

from fuzz_bombs import bomb
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.generic import pdf_name
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter

Mutator = Callable[[random.Random, bytes], tuple[bytes, str]]

_STRUCTURE = re.compile(
    rb"startxref|xref|trailer|endobj|\d+ \d+ obj|/Prev|/W|/Size|/Root|/Length|endstream|stream|%%EOF|/Index"
)
_STARTXREF = re.compile(rb"startxref\s+(\d+)")
_PREV = re.compile(rb"/Prev\s+(\d+)")
_WIDTHS = re.compile(rb"/W\s*\[\s*(\d+)\s+(\d+)\s+(\d+)\s*\]")
_ENTRY = re.compile(rb"(\d{10}) (\d{5}) ([nf])( \r| \n|\r\n)")
_XREF_STREAM = re.compile(rb"/Type\s*/XRef")
_NUMBER_TOKEN = re.compile(rb"\d+")
#: text a forger draws: an opaque white box with new words (covers what was signed)
_FORGED = b"q 1 g 60 600 300 120 re f Q BT /Helv 24 Tf 72 650 Td (FORGED - FEE WAIVED) Tj ET"
_JUNK = (
    b"\n",
    b"\r\n\r\n  \n",
    b"%%EOF\n",
    b"\n%%EOF\n%%EOF\n",
    b"\x00" * 64,
    b"% a comment\n",
    b"PK\x03\x04" + b"\x00 not a PDF revision\n" * 16,
    b"99 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\n",
    b"xref\n0 1\n0000000000 65535 f \ntrailer\n<< /Size 1 >>\nstartxref\n0\n%%EOF\n",
    b"\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n",
)


def _spliced(pdf: bytes, at: int, length: int, new: bytes) -> bytes:
    return pdf[:at] + new + pdf[at + length :]


def _number(rng: random.Random, old: int, others: list[int]) -> int:
    """A replacement for a number: near it, another one of its kind, zero, or anything."""
    choice = rng.random()
    if choice < 0.4:
        return max(0, old + rng.choice((-1, 1)) * rng.randint(1, 64))
    if choice < 0.7 and others:
        return rng.choice(others)
    if choice < 0.8:
        return 0
    return rng.randint(0, 10 ** rng.randint(1, 12))


def flip(rng: random.Random, pdf: bytes) -> tuple[bytes, str]:
    out = bytearray(pdf)
    where = []
    for _ in range(rng.randint(1, 3)):
        at = rng.randrange(len(out))
        out[at] = rng.randrange(256)
        where.append(at)
    return bytes(out), f"bytes at {where}"


def flip_structure(rng: random.Random, pdf: bytes) -> tuple[bytes, str]:
    """One byte changed next to a structural keyword: where parsers disagree most."""
    hits = list(_STRUCTURE.finditer(pdf))
    hit = rng.choice(hits)
    at = min(len(pdf) - 1, max(0, rng.randint(hit.start() - 8, hit.end() + 12)))
    new = rng.choice((b" ", b"\n", b"\x00", b"0", b"9", b"x", b"<", b"/", bytes([rng.randrange(256)])))
    return _spliced(pdf, at, 1, new), f"byte at {at} near {hit.group()[:12]!r}"


def _edit_number(rng: random.Random, pdf: bytes, pattern: re.Pattern[bytes], what: str) -> tuple[bytes, str]:
    hits = list(pattern.finditer(pdf))
    if not hits:
        return flip_structure(rng, pdf)
    hit = rng.choice(hits[-3:])
    others = [int(m.group(1)) for m in _STARTXREF.finditer(pdf)] + [int(m.group(1)) for m in hits]
    new = _number(rng, int(hit.group(1)), others)
    return _spliced(pdf, hit.start(1), len(hit.group(1)), b"%d" % new), f"{what} {hit.group(1)!r} -> {new}"


def startxref(rng: random.Random, pdf: bytes) -> tuple[bytes, str]:
    return _edit_number(rng, pdf, _STARTXREF, "startxref")


def prev(rng: random.Random, pdf: bytes) -> tuple[bytes, str]:
    return _edit_number(rng, pdf, _PREV, "/Prev")


def widths(rng: random.Random, pdf: bytes) -> tuple[bytes, str]:
    hits = list(_WIDTHS.finditer(pdf))
    if not hits:
        return xref_entry(rng, pdf)
    hit = rng.choice(hits)
    which = rng.randint(1, 3)
    new = b"%d" % rng.choice((0, 1, 2, 3, 4, 5, 8, 9, 20))
    return _spliced(pdf, hit.start(which), len(hit.group(which)), new), f"/W field {which} -> {new!r}"


def xref_entry(rng: random.Random, pdf: bytes, after: int = 0) -> tuple[bytes, str]:
    """One entry of a classic table (type, offset, generation, end-of-line) or of the last xref stream."""
    entries = list(_ENTRY.finditer(pdf, after))
    if entries and (rng.random() < 0.7 or not _XREF_STREAM.search(pdf, after)):
        entry = rng.choice(entries)
        kind = rng.randrange(5)
        if kind == 0:
            return _spliced(pdf, entry.start(3), 1, rng.choice((b"x", b"0", b"N", b" "))), "entry type"
        if kind == 1:
            at = entry.start(1) + rng.randrange(10)
            return _spliced(pdf, at, 1, rng.choice((b" ", b"\x00", b"9", b"a"))), "entry offset digit"
        if kind == 2:
            return _spliced(pdf, entry.start(2), 5, b"%05d" % rng.randint(0, 99999)), "entry generation"
        if kind == 3:
            return _spliced(pdf, entry.start(4), 2, rng.choice((b"", b"\n", b"  \n"))), "entry end-of-line"
        new = b"%010d" % max(0, int(entry.group(1)) + rng.randint(-40, 40))
        return _spliced(pdf, entry.start(1), 10, new), "entry offset moved"
    return _xref_stream_entry(rng, pdf, after)


def _xref_stream_entry(rng: random.Random, pdf: bytes, after: int) -> tuple[bytes, str]:
    """Decode the file's last xref stream, change one byte of its entries, encode it again."""
    markers = list(_XREF_STREAM.finditer(pdf, after))
    marker = markers[-1] if markers else None
    if marker is None:
        return flip_structure(rng, pdf)
    start = pdf.index(b"stream", marker.end())
    data_start = start + 6 + (2 if pdf[start + 6 : start + 8] == b"\r\n" else 1)
    data_end = pdf.index(b"endstream", data_start)
    raw = pdf[data_start:data_end].rstrip(b"\r\n")
    try:
        entries = bytearray(zlib.decompress(raw))
    except zlib.error:
        return flip_structure(rng, pdf)
    if not entries:
        return flip_structure(rng, pdf)
    at = rng.randrange(len(entries))
    entries[at] = rng.choice((0, 1, 2, 3, 255, rng.randrange(256)))
    packed = zlib.compress(bytes(entries))
    dictionary = pdf.rfind(b"<<", 0, start)
    length = re.compile(rb"/Length\s+(\d+)").search(pdf, dictionary, start)
    if length is None:
        return flip_structure(rng, pdf)
    out = pdf[:data_start] + packed + pdf[data_start + len(raw) :]
    return _spliced(out, length.start(1), len(length.group(1)), b"%d" % len(packed)), f"xref stream byte {at}"


def truncate(rng: random.Random, pdf: bytes) -> tuple[bytes, str]:
    cut = rng.randint(len(pdf) * 9 // 10, len(pdf) - 1)
    return pdf[:cut], f"cut at {cut}"


def insert(rng: random.Random, pdf: bytes) -> tuple[bytes, str]:
    at = rng.randrange(len(pdf))
    new = rng.choice((b" ", b"\n", b"%x\n", rng.randbytes(rng.randint(1, 32))))
    return _spliced(pdf, at, 0, new), f"{len(new)} bytes inserted at {at}"


def trailing(rng: random.Random, pdf: bytes) -> tuple[bytes, str]:
    junk = rng.choice((*_JUNK, rng.randbytes(rng.randint(1, 512))))
    return pdf + junk, f"{len(junk)} trailing bytes"


def make_append_document(others: list[bytes]) -> Mutator:
    """Appends a whole other document (unsigned or sealed) after the sealed one."""

    def append_document(rng: random.Random, pdf: bytes) -> tuple[bytes, str]:
        other = rng.choice(others)
        return pdf + rng.choice((b"", b"\n")) + other, f"a {len(other)}-byte document appended"

    return append_document


# -- incremental updates ---------------------------------------------------------------------------


def _update(
    rng: random.Random, pdf: bytes, edit: Callable[[IncrementalPdfFileWriter], str]
) -> tuple[bytes, str]:
    """``edit`` applied in an incremental update; half of the time the update's xref is damaged too."""
    writer = IncrementalPdfFileWriter(BytesIO(pdf))
    writer.stream_xrefs = rng.random() < 0.5
    writer._document_id[1] = generic.ByteStringObject(rng.randbytes(16))  # pyHanko's is random: seed it
    detail = edit(writer)
    out = BytesIO()
    writer.write(out)
    mutant = out.getvalue()
    if rng.random() < 0.5:
        damage = rng.choice((xref_entry, widths, startxref, prev, flip_structure))
        if damage is xref_entry:
            damaged, how = xref_entry(rng, mutant, after=len(pdf))
        else:
            damaged, how = damage(rng, mutant)
        return damaged, f"{detail}; then {how}"
    return mutant, detail


def _page(
    writer: IncrementalPdfFileWriter, index: int = 0
) -> tuple[generic.DictionaryObject, generic.Reference]:
    ref, _ = writer.find_page_for_modification(index)
    return ref.get_object(), ref


def _helvetica() -> generic.DictionaryObject:
    return generic.DictionaryObject(
        {
            pdf_name("/Type"): pdf_name("/Font"),
            pdf_name("/Subtype"): pdf_name("/Type1"),
            pdf_name("/BaseFont"): pdf_name("/Helvetica"),
        }
    )


def _form(writer: IncrementalPdfFileWriter, content: bytes, box: tuple[float, ...]) -> generic.IndirectObject:
    resources = {pdf_name("/Font"): generic.DictionaryObject({pdf_name("/Helv"): _helvetica()})}
    return writer.add_object(
        generic.StreamObject(
            {
                pdf_name("/Type"): pdf_name("/XObject"),
                pdf_name("/Subtype"): pdf_name("/Form"),
                pdf_name("/BBox"): generic.ArrayObject(generic.FloatObject(n) for n in box),
                pdf_name("/Resources"): generic.DictionaryObject(resources),
            },
            stream_data=content,
        )
    )


def _names(*pairs: tuple[str, generic.PdfObject]) -> generic.DictionaryObject:
    return generic.DictionaryObject({pdf_name(k): v for k, v in pairs})


def _widgets(writer: IncrementalPdfFileWriter) -> list[generic.IndirectObject]:
    page, _ = _page(writer)
    annots = page.get("/Annots", generic.ArrayObject())
    return [a for a in annots if isinstance(a, generic.IndirectObject)]


def update_content(rng: random.Random, pdf: bytes) -> tuple[bytes, str]:
    def edit(writer: IncrementalPdfFileWriter) -> str:
        page, ref = _page(writer)
        forged = writer.add_object(generic.StreamObject(stream_data=_FORGED))
        fonts = _names(("/Helv", _helvetica()))
        how = rng.randrange(3)
        if how == 0:
            page[pdf_name("/Contents")] = forged
        elif how == 1:
            old = page.raw_get("/Contents")
            page[pdf_name("/Contents")] = generic.ArrayObject(
                [*(old if isinstance(old, list) else [old]), forged]
            )
        else:
            page[pdf_name("/Rotate")] = generic.NumberObject(rng.choice((90, 180, 270)))
            writer.mark_update(ref)
            return "page rotated"
        resources = page.get("/Resources")
        if isinstance(resources, generic.DictionaryObject):
            font = resources.get("/Font")
            if isinstance(font, generic.DictionaryObject):
                font[pdf_name("/Helv")] = _helvetica()
            else:
                resources[pdf_name("/Font")] = fonts
        writer.mark_update(ref)
        return ("page content replaced", "content stream appended")[how]

    return _update(rng, pdf, edit)


def update_annotation(rng: random.Random, pdf: bytes) -> tuple[bytes, str]:
    def edit(writer: IncrementalPdfFileWriter) -> str:
        _, ref = _page(writer)
        box = (rng.uniform(0, 400), rng.uniform(0, 700))
        rect = (box[0], box[1], box[0] + rng.uniform(20, 300), box[1] + rng.uniform(20, 120))
        subtype = rng.choice(("/Square", "/FreeText", "/Stamp", "/Link", "/Widget", "/Text"))
        annot = _names(
            ("/Type", pdf_name("/Annot")),
            ("/Subtype", pdf_name(subtype)),
            ("/Rect", generic.ArrayObject(generic.FloatObject(n) for n in rect)),
            ("/F", generic.NumberObject(rng.choice((0, 2, 4, 32)))),
        )
        if rng.random() < 0.8:
            size = (0, 0, rect[2] - rect[0], rect[3] - rect[1])
            content = b"1 g 0 0 %.1f %.1f re f BT 0 g /Helv 12 Tf 2 4 Td (VOID) Tj ET" % size[2:]
            annot[pdf_name("/AP")] = _names(("/N", _form(writer, content, size)))
        writer.register_annotation(ref, writer.add_object(annot))
        return f"{subtype} annotation added"

    return _update(rng, pdf, edit)


def update_hide_seal(rng: random.Random, pdf: bytes) -> tuple[bytes, str]:
    """Hide or replace what the seal widget shows: flags, optional content, a new appearance, a move."""

    def edit(writer: IncrementalPdfFileWriter) -> str:
        widgets = _widgets(writer)
        if not widgets:
            return _catalog_edit(rng, writer)
        target = rng.choice(widgets)
        widget = target.get_object()
        how = rng.randrange(4)
        if how == 0:
            widget[pdf_name("/F")] = generic.NumberObject(rng.choice((2, 32, 34, 1)))
        elif how == 1:
            layer = writer.add_object(
                _names(("/Type", pdf_name("/OCG")), ("/Name", generic.TextStringObject("x")))
            )
            widget[pdf_name("/OC")] = layer
            default = _names(("/OFF", generic.ArrayObject([layer])))
            writer.root[pdf_name("/OCProperties")] = _names(
                ("/OCGs", generic.ArrayObject([layer])), ("/D", default)
            )
            writer.update_root()
        elif how == 2:
            widget[pdf_name("/AP")] = _names(("/N", _form(writer, b"", (0, 0, 10, 10))))
        else:
            widget[pdf_name("/Rect")] = generic.ArrayObject(generic.FloatObject(n) for n in (0, 0, 1, 1))
        writer.mark_update(target)
        return ("widget flags", "widget under an OFF layer", "widget appearance blanked", "widget moved")[how]

    return _update(rng, pdf, edit)


def _catalog_edit(rng: random.Random, writer: IncrementalPdfFileWriter) -> str:
    """Document-level entries that change what viewers show or do: JavaScript, forms, layers, /Info."""
    how = rng.randrange(6)
    root = writer.root
    if how == 0:
        js = _names(("/S", pdf_name("/JavaScript")), ("/JS", generic.TextStringObject("app.alert('x');")))
        root[pdf_name("/OpenAction")] = writer.add_object(js)
    elif how == 1:
        js = _names(("/S", pdf_name("/JavaScript")), ("/JS", generic.TextStringObject("this.print();")))
        tree = _names(("/Names", generic.ArrayObject([generic.TextStringObject("a"), writer.add_object(js)])))
        root[pdf_name("/Names")] = _names(("/JavaScript", writer.add_object(tree)))
    elif how == 2:
        form = root.get("/AcroForm")
        if isinstance(form, generic.DictionaryObject):
            form[pdf_name("/NeedAppearances")] = generic.BooleanObject(True)
            if isinstance(root.raw_get("/AcroForm"), generic.IndirectObject):
                writer.mark_update(root.raw_get("/AcroForm"))
    elif how == 3:
        layer = writer.add_object(
            _names(("/Type", pdf_name("/OCG")), ("/Name", generic.TextStringObject("y")))
        )
        default = _names(("/ON", generic.ArrayObject([layer])))
        root[pdf_name("/OCProperties")] = _names(("/OCGs", generic.ArrayObject([layer])), ("/D", default))
    elif how == 4:
        writer.set_info(_names(("/Title", generic.TextStringObject("forged title"))))
        return "/Info changed"
    else:
        for ref in root.get("/AcroForm", {}).get("/Fields", []):
            field = ref.get_object()
            field[pdf_name("/Ff")] = generic.NumberObject(rng.choice((0, 1, 2, 4096)))
            writer.mark_update(ref)
        return "form field flags"
    writer.update_root()
    return ("/OpenAction JavaScript", "/Names JavaScript", "/NeedAppearances", "/OCProperties")[how]


def update_document(rng: random.Random, pdf: bytes) -> tuple[bytes, str]:
    return _update(rng, pdf, lambda writer: _catalog_edit(rng, writer))


def update_pages(rng: random.Random, pdf: bytes) -> tuple[bytes, str]:
    def edit(writer: IncrementalPdfFileWriter) -> str:
        page, ref = _page(writer)
        how = rng.randrange(3)
        if how == 0:
            new = _names(
                ("/Type", pdf_name("/Page")),
                ("/MediaBox", page["/MediaBox"]),
                ("/Contents", writer.add_object(generic.StreamObject(stream_data=_FORGED))),
            )
            writer.insert_page(new)
            return "page added"
        key = "/MediaBox" if how == 1 else "/CropBox"
        page[pdf_name(key)] = generic.ArrayObject(generic.FloatObject(n) for n in (0, 0, 300, 300))
        writer.mark_update(ref)
        return f"{key} changed"

    return _update(rng, pdf, edit)


#: mutator → weight in a campaign
MUTATORS: dict[str, tuple[Mutator, int]] = {
    "flip": (flip, 8),
    "flip_structure": (flip_structure, 10),
    "startxref": (startxref, 5),
    "prev": (prev, 4),
    "widths": (widths, 4),
    "xref_entry": (xref_entry, 8),
    "truncate": (truncate, 2),
    "insert": (insert, 3),
    "trailing": (trailing, 5),
    "update_content": (update_content, 12),
    "update_annotation": (update_annotation, 10),
    "update_hide_seal": (update_hide_seal, 10),
    "update_document": (update_document, 10),
    "update_pages": (update_pages, 5),
    "bomb": (bomb, 2),
}
