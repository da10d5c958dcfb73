"""Re-link a broken chain of cross-reference tables without moving a single byte.

Some writers append an incremental update whose trailer points (/Prev, startxref) at the wrong offset,
e.g. ``/Prev 0``; pyHanko then cannot read the file even tolerantly, and a rebuilt cross-reference
(qpdf, pikepdf) would lose the revisions that tell what each signature covers. The sections themselves
are intact, so each trailer's wrong pointer is replaced by the section that actually precedes it in the
file. Every rewrite stays inside the original trailer's bytes (whitespace next to delimiters is
dropped to make room), so every offset and every ByteRange still means the same. The result is only
ever *parsed*; digests are computed over the original bytes.
"""

from __future__ import annotations

import re

__all__ = ["relink_xref_tables"]

#: ``xref`` at a line start, its table, ``trailer << … >>``, ``startxref N``
_SECTION = re.compile(
    rb"(?<![A-Za-z])xref[ \t]*\r?\n[\d \t\r\nfn]*?"
    rb"trailer\s*(?P<trailer><<.{0,4096}?>>)\s*startxref\s+(?P<startxref>\d+)",
    re.DOTALL,
)
_PREV = re.compile(rb"/Prev\s+(\d+)")
#: a subsection header ``first count`` or an entry ``oooooooooo ggggg n|f``
_TABLE_LINE = re.compile(
    rb"(?P<entry>(?P<offset>\d{10})[ \t](?P<gen>\d{5})[ \t](?P<kind>[nf]))|(?P<first>\d+)[ \t]+\d+"
)
_OBJ_HEADER = re.compile(rb"(?<!\d)(\d{1,10})[ \t\r\n]+(\d{1,5})[ \t\r\n]+obj\b")
_Definitions = dict[tuple[int, int], list[int]]
_SPACE_BEFORE_DELIMITER = re.compile(rb"\s+(?=[/<>\[\]])")
_SPACE_AFTER_DELIMITER = re.compile(rb"(?<=[<>\[\]])\s+")
#: bound on sections considered, so a hostile file cannot make this quadratic
MAX_SECTIONS = 4096


def relink_xref_tables(data: bytes) -> bytes | None:
    """``data`` with wrong /Prev, startxref and object offsets corrected, or None when nothing was fixed.

    Only classic cross-reference tables are handled; a pointer is wrong when no section (or, for an
    entry, no ``N G obj``) starts there.
    """
    sections = list(_sections(data))
    if not sections:
        return None
    starts = {start for start, _, _ in sections}
    definitions = _definitions(data)
    patched = bytearray(data)
    changed = False
    previous: int | None = None
    body_start = 0
    for start, trailer, _ in sections:
        changed |= _relocate_entries(data, patched, (start, trailer[0]), (body_start, start), definitions)
        body_start = trailer[1]
        span = data[trailer[0] : trailer[1]]
        prev = _PREV.search(span)
        if prev is not None and int(prev.group(1)) not in starts:
            replacement = b"" if previous is None else b"/Prev %d" % previous
            fixed = _fit(span[: prev.start()] + replacement + span[prev.end() :], len(span))
            if fixed is None:
                return None
            patched[trailer[0] : trailer[1]] = fixed
            changed = True
        previous = start
    last_start, _, (sx_from, sx_to) = sections[-1]
    if int(data[sx_from:sx_to]) not in starts:
        digits = b"%d" % last_start
        if len(digits) > sx_to - sx_from:
            return None
        patched[sx_from:sx_to] = digits.ljust(sx_to - sx_from)
        changed = True
    return bytes(patched) if changed else None


def _relocate_entries(
    data: bytes, patched: bytearray, table: tuple[int, int], body: tuple[int, int], definitions: _Definitions
) -> bool:
    """Point in-use entries that miss their ``N G obj`` at the one definition in this revision's body.

    Entries are fixed-width, so the corrected offset takes exactly the bytes of the wrong one. An
    entry is left alone when its object is not defined exactly once in the body.
    """
    changed = False
    number = 0
    for line in _TABLE_LINE.finditer(data, *table):
        if line.group("first") is not None:
            number = int(line.group("first"))
            continue
        if line.group("kind") == b"n":
            key = (number, int(line.group("gen")))
            offsets = definitions.get(key, ())
            if int(line.group("offset")) not in offsets:
                inside = [o for o in offsets if body[0] <= o < body[1]]
                if len(inside) == 1:
                    patched[line.start("offset") : line.end("offset")] = b"%010d" % inside[0]
                    changed = True
        number += 1
    return changed


def _definitions(data: bytes) -> _Definitions:
    """Every ``N G obj`` header in the file, in one pass: (number, generation) → offsets."""
    found: _Definitions = {}
    for match in _OBJ_HEADER.finditer(data):
        found.setdefault((int(match.group(1)), int(match.group(2))), []).append(match.start())
    return found


def _sections(data: bytes):
    """(offset of ``xref``, trailer dict span, startxref digits span) in file order."""
    for count, match in enumerate(_SECTION.finditer(data)):
        if count >= MAX_SECTIONS:
            return
        yield match.start(), match.span("trailer"), match.span("startxref")


def _fit(trailer: bytes, size: int) -> bytes | None:
    """``trailer`` padded to ``size`` bytes, compacted first if it is longer; None if it cannot fit.

    Literal strings (an /ID written in parentheses) are never compacted: their bytes are their value.
    """
    if len(trailer) > size and b"(" not in trailer:
        trailer = _SPACE_AFTER_DELIMITER.sub(b"", _SPACE_BEFORE_DELIMITER.sub(b"", trailer))
    if len(trailer) > size:
        return None
    return trailer[:-2] + b" " * (size - len(trailer)) + trailer[-2:]
