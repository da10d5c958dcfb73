"""Every byte after a signed range must be a strictly well-formed incremental update (ISO 32000-2 §7.5.6).

The verifier's reader is tolerant: it repairs malformed cross-reference entries, guesses at broken
``/W`` arrays and follows whatever ``startxref`` says. Viewers repair too, but each in its own way, so a
forger who damages *one* byte of an update can make our reader see the signed page while poppler or
MuPDF show the forged one. The defence is not a better guess but a refusal to guess: the part of the
file after a signature's range must parse without any repair — exact ``startxref``, 20-byte table
entries of type ``n``/``f``, subsection headers on their own line, a sane xref stream, a ``/Prev`` chain
that reaches the signed revision, objects where the table says they are, and nothing but whitespace
(or stray ``%%EOF`` markers) after the final ``%%EOF``. What fails here is not proof of forgery, so it
is reported as a doubt (the signature can be at most INDETERMINATE), never repaired and passed.

Only the unsigned part is judged: damage inside a signed revision was there when the signer signed,
and a tolerant reading of it is reported elsewhere (``PARSED_TOLERANTLY``).
"""

from __future__ import annotations

import re
import weakref
from bisect import bisect_right
from collections.abc import Callable
from dataclasses import dataclass, field
from io import BytesIO
from typing import Any, TypeVar

from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.rw_common import PdfHandler

from esign.pdf.open import PARSER_CRASHES

__all__ = ["final_eof", "last_closer_end", "unaccounted_bytes"]

_WHITESPACE = b"\x00\t\n\x0c\r "
#: ``startxref`` N ``%%EOF``: how every revision closes (§7.5.5)
_CLOSER = re.compile(rb"startxref[\x00\t\n\x0c\r ]+(\d+)[\x00\t\n\x0c\r ]+%%EOF")
_TABLE_START = re.compile(rb"xref(?:\r\n|\r|\n)")
#: a subsection header is two numbers separated by a space, ended by an end-of-line (§7.5.4)
_SUBSECTION = re.compile(rb"(\d+) (\d+)[ \t]*(?:\r\n|\r|\n)")
#: exactly 20 bytes: 10-digit offset, 5-digit generation, n or f, a two-byte end-of-line
_ENTRY = re.compile(rb"(\d{10}) (\d{5}) ([nf])(?: \r| \n|\r\n)")
_OBJ_HEADER = re.compile(rb"[\x00\t\n\x0c\r ]*(\d+)[\x00\t\n\x0c\r ]+(\d+)[\x00\t\n\x0c\r ]+obj\b")
_ANY_HEADER = re.compile(rb"(?<![0-9])(\d+)[\x00\t\n\x0c\r ]+(\d+)[\x00\t\n\x0c\r ]+obj\b")
_EOL = re.compile(rb"\r\n|\r|\n")
_ENDOBJ = re.compile(rb"[\x00\t\n\x0c\r ]*endobj")
_MAX_UPDATES = 10_000
#: an xref stream entry needs one byte for its type (0, 1, 2), up to 8 for an offset, up to 4 for the third
_W_LIMITS = (1, 8, 4)


_T = TypeVar("_T")
#: per reader (and the bytes it reads), the outcome of every section parse and region check so far
_STEPS: weakref.WeakKeyDictionary[PdfHandler, tuple[bytes, dict[tuple[object, ...], object]]] = (
    weakref.WeakKeyDictionary()
)


class _NotStrict(Exception):
    """Why an update does not parse without repair; the message goes into the finding."""


@dataclass
class _Section:
    """One cross-reference section: where it starts, where its revision's ``%%EOF`` ends, what it lists."""

    offset: int
    eof_end: int
    prev: int | None = None
    #: object number → (generation, offset) for entries in use (type ``n`` / 1)
    in_use: dict[int, tuple[int, int]] = field(default_factory=dict)
    #: where the section's own syntax ends (after the trailer or the xref stream's ``endobj``)
    syntax_end: int = 0


def final_eof(pdf: bytes) -> int | None:
    """Offset just past the last ``%%EOF`` that closes a revision, when all after it is harmless.

    Harmless is whitespace and repeated ``%%EOF`` lines (some tools append one). ``None`` when other
    bytes follow: they belong to no revision.
    """
    end = _rstripped(pdf, len(pdf))
    while pdf.endswith(b"%%EOF", 0, end):
        if _closer_ending_at(pdf, end) is not None:
            return end
        end = _rstripped(pdf, end - 5)
    return None


def last_closer_end(pdf: bytes, before: int | None = None) -> int | None:
    """Offset just past the last ``startxref … %%EOF`` ending at or before ``before``: where the last
    revision ends for a reader that ignores what follows (judged by :func:`unaccounted_bytes`)."""
    eof = len(pdf) if before is None else before
    while (eof := pdf.rfind(b"%%EOF", 0, eof)) >= 0:
        if _closer_ending_at(pdf, eof + 5) is not None:
            return eof + 5
    return None


def _rstripped(pdf: bytes, end: int) -> int:
    while end > 0 and pdf[end - 1] in _WHITESPACE:
        end -= 1
    return end


def unaccounted_bytes(pdf: bytes, signed_end: int, handler: PdfHandler) -> str | None:
    """Why the bytes after ``signed_end`` are not a strictly parsed chain of updates, or ``None``.

    ``handler`` resolves indirect ``/Length`` values of xref streams (the parsed document's reader).
    """
    try:
        return _account(pdf, signed_end, handler)
    except _NotStrict as problem:
        return str(problem)
    except (*PARSER_CRASHES, AssertionError):
        return "an update cannot be parsed strictly"  # words for the report, not the parser's exception


def _account(pdf: bytes, signed_end: int, handler: PdfHandler) -> str | None:
    if signed_end >= _rstripped(pdf, len(pdf)):
        return None
    final = final_eof(pdf)
    if final is None:
        return f"bytes after the final %%EOF (from offset {_after_last_eof(pdf, signed_end)})"
    if _same_boundary(pdf, signed_end, final):
        return None
    closers = [(m.end(), int(m.group(1))) for m in _CLOSER.finditer(pdf, max(0, signed_end - 64), final)]
    closer_ends = [end for end, _ in closers]
    step = _steps(pdf, handler)
    start = _closer_ending_at(pdf, final)
    section = step(("section", start, final), _section, pdf, start, final, handler)
    for _ in range(_MAX_UPDATES):
        if section.prev is None:
            raise _NotStrict(
                "the bytes after the signed range are not an update chained by /Prev to the signed revision"
            )
        previous_end = _previous_closer(closers, closer_ends, section.prev, section.offset)
        if previous_end is None:
            raise _NotStrict(f"the /Prev chain ({section.prev}) does not lead back to the signed revision")
        step(("region", previous_end, section.offset), _check_region, pdf, previous_end, section)
        if _same_boundary(pdf, signed_end, previous_end):
            return None
        if previous_end < signed_end:
            raise _NotStrict("the signed range does not end where a revision ends")
        key = ("section", section.prev, previous_end)
        section = step(key, _section, pdf, section.prev, previous_end, handler)
    raise _NotStrict("too many incremental updates")


def _steps(pdf: bytes, handler: PdfHandler) -> Callable[..., Any]:
    """A memo of section parses and region checks for this file, shared by all its signatures.

    Each signature walks the updates from the end of the file back to its own range; ten signatures
    walked the last update ten times. Each step depends only on the file and its arguments, so its
    outcome — a section, or the error it raised — is kept for the reader's lifetime.
    """
    entry = _STEPS.get(handler)
    if entry is None or entry[0] is not pdf:
        entry = _STEPS[handler] = (pdf, {})
    outcomes = entry[1]

    def step(key: tuple[object, ...], compute: Callable[..., _T], *args: Any) -> _T:
        if key not in outcomes:
            try:
                outcomes[key] = compute(*args)
            except (_NotStrict, *PARSER_CRASHES, AssertionError) as exc:
                outcomes[key] = exc
        outcome = outcomes[key]
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome  # type: ignore[return-value]

    return step


def _same_boundary(pdf: bytes, a: int, b: int) -> bool:
    """Two offsets that only whitespace separates (signers differ on the end-of-line after ``%%EOF``)."""
    low, high = sorted((a, b))
    return not pdf[low:high].strip(_WHITESPACE)


def _after_last_eof(pdf: bytes, signed_end: int) -> int:
    eof = pdf.rfind(b"%%EOF")
    return max(signed_end, eof + 5 if eof >= 0 else 0)


def _closer_ending_at(pdf: bytes, end: int) -> int | None:
    """The ``startxref`` value of the closer that ends exactly at ``end`` (``%%EOF`` included)."""
    window = max(0, end - 64)
    found = None
    for m in _CLOSER.finditer(pdf, window, end):
        if m.end() == end:
            found = int(m.group(1))
    return found


def _previous_closer(closers: list[tuple[int, int]], ends: list[int], prev: int, before: int) -> int | None:
    """End of the latest revision closer before ``before`` whose ``startxref`` is ``prev``."""
    index = bisect_right(ends, before)
    for end, value in reversed(closers[:index]):
        if value == prev:
            return end
    return None


def _section(pdf: bytes, offset: int | None, eof_end: int, handler: PdfHandler) -> _Section:
    """The cross-reference section at ``offset``, parsed strictly, closed by the closer at ``eof_end``."""
    if offset is None or offset >= eof_end:
        raise _NotStrict("startxref does not point at a cross-reference section of this update")
    offset = _skip_whitespace(pdf, offset)  # tolerated by every reader, and harmless
    section = _Section(offset=offset, eof_end=eof_end)
    if _TABLE_START.match(pdf, offset):
        _read_table(pdf, section, handler)
    elif _OBJ_HEADER.match(pdf, offset) and pdf[offset : offset + 1].isdigit():
        section.syntax_end = _read_stream(pdf, offset, section, handler)
    else:
        raise _NotStrict(f"startxref {offset} points at neither 'xref' nor an xref stream")
    closer = _CLOSER.match(pdf, _skip_whitespace(pdf, section.syntax_end))
    if closer is None or closer.end() != eof_end:
        raise _NotStrict(f"the section at {offset} is not followed by its own startxref and %%EOF")
    return section


def _read_table(pdf: bytes, section: _Section, handler: PdfHandler) -> None:
    pos = _TABLE_START.match(pdf, section.offset).end()  # type: ignore[union-attr]
    while (header := _SUBSECTION.match(pdf, pos)) is not None:
        first, count = int(header.group(1)), int(header.group(2))
        pos = header.end()
        if pos + 20 * count > section.eof_end:
            raise _NotStrict(f"the xref subsection {first} {count} runs past its update")
        for number in range(first, first + count):
            entry = _ENTRY.match(pdf, pos)
            if entry is None:
                raise _NotStrict(f"xref entry of object {number} is not a 20-byte 'n' or 'f' entry")
            if entry.group(3) == b"n":
                section.in_use[number] = (int(entry.group(2)), int(entry.group(1)))
            pos += 20
    pos = _skip_whitespace(pdf, pos)
    if not pdf.startswith(b"trailer", pos):
        raise _NotStrict(f"the xref table at {section.offset} is not followed by its trailer")
    stream = BytesIO(pdf)
    stream.seek(_skip_whitespace(pdf, pos + 7))
    trailer = generic.DictionaryObject.read_from_stream(stream, generic.TrailerReference(handler))
    section.syntax_end = stream.tell()
    section.prev = _prev(trailer)
    hybrid = trailer.get("/XRefStm")
    if hybrid is not None:
        if not isinstance(hybrid, int) or not section.offset > hybrid >= 0:
            raise _NotStrict("the /XRefStm of a hybrid section is not an offset before its table")
        _read_stream(pdf, int(hybrid), section, handler)


def _read_stream(pdf: bytes, offset: int, section: _Section, handler: PdfHandler) -> int:
    """Read the xref stream at ``offset`` into ``section``; returns where its ``endobj`` ends."""
    header = _OBJ_HEADER.match(pdf, offset)
    if header is None:
        raise _NotStrict(f"no xref stream object at {offset}")
    stream = BytesIO(pdf)
    stream.seek(_skip_whitespace(pdf, header.end()))
    ref = generic.Reference(int(header.group(1)), int(header.group(2)), pdf=handler)
    xref = generic.DictionaryObject.read_from_stream(stream, ref)
    if not isinstance(xref, generic.StreamObject) or xref.get("/Type") != "/XRef":
        raise _NotStrict(f"the object at {offset} is not a /Type /XRef stream")
    end = _ENDOBJ.match(pdf, stream.tell())
    if end is None:
        raise _NotStrict(f"the xref stream at {offset} does not end with endobj")
    widths = _widths(xref.get("/W"))
    subsections = _index(xref)
    data = xref.data
    row = sum(widths)
    if len(data) != row * sum(count for _, count in subsections):
        raise _NotStrict(f"the xref stream at {offset} holds {len(data)} bytes, not what /W and /Index say")
    pos = 0
    for first, count in subsections:
        for number in range(first, first + count):
            kind, second, third = (_field(data, pos, widths, i) for i in range(3))
            pos += row
            if kind == 1:
                section.in_use[number] = (third, second)
            elif kind not in (0, 2):
                raise _NotStrict(f"xref stream entry of object {number} has type {kind}")
    if section.prev is None:
        section.prev = _prev(xref)
    return end.end()


def _widths(value: object) -> tuple[int, int, int]:
    if not isinstance(value, list) or len(value) != 3 or not all(isinstance(w, int) for w in value):
        raise _NotStrict("the xref stream's /W is not three integers")
    widths = tuple(int(w) for w in value)
    if any(not 0 <= w <= limit for w, limit in zip(widths, _W_LIMITS, strict=True)) or widths[1] == 0:
        raise _NotStrict(f"the xref stream's /W {list(widths)} is not a sane field layout")
    return widths  # type: ignore[return-value]


def _index(xref: generic.StreamObject) -> list[tuple[int, int]]:
    size = xref.get("/Size")
    index = xref.get("/Index", [0, size])
    if not isinstance(index, list) or len(index) % 2 or not all(isinstance(n, int) and n >= 0 for n in index):
        raise _NotStrict("the xref stream's /Index is not pairs of non-negative integers")
    return [(int(index[i]), int(index[i + 1])) for i in range(0, len(index), 2)]


def _field(data: bytes, pos: int, widths: tuple[int, int, int], which: int) -> int:
    start = pos + sum(widths[:which])
    if widths[which] == 0:
        return 1 if which == 0 else 0
    return int.from_bytes(data[start : start + widths[which]], "big")


def _prev(trailer: generic.DictionaryObject) -> int | None:
    prev = trailer.get("/Prev")
    if prev is None:
        return None
    if not isinstance(prev, int) or prev < 0:
        raise _NotStrict("/Prev is not an offset")
    return int(prev)


def _check_region(pdf: bytes, start: int, section: _Section) -> None:
    """The update's own bytes: objects exactly where its section lists them, nothing else but whitespace.

    Entries may also point back into earlier revisions (unchanged objects listed again); those must
    still point at the header of the object they name.
    """
    listed = sorted((offset, number) for number, (_, offset) in section.in_use.items())
    for offset, number in listed:
        header = _OBJ_HEADER.match(pdf, offset)
        # an xref stream may list itself; nothing else may sit at or after the section
        if offset > section.offset or header is None or int(header.group(1)) != number:
            raise _NotStrict(f"the xref entry of object {number} does not point at its definition")
        if int(header.group(2)) != section.in_use[number][0]:
            raise _NotStrict(f"the xref entry of object {number} names another generation")
    starts = sorted({offset for offset, _ in listed if start <= offset < section.offset} | {section.offset})
    if _skip_whitespace(pdf, start) < starts[0]:
        raise _NotStrict(f"bytes at {start} that belong to no object of the update")
    defined_at = {_skip_whitespace(pdf, s) for s in starts}
    for header in _ANY_HEADER.finditer(pdf, start, section.offset):
        at = header.start()
        if at in defined_at:
            continue
        owner = bisect_right(starts, at) - 1
        if owner < 0 or not _inside_stream(pdf, starts[owner], at, starts[owner + 1]):
            raise _NotStrict(f"object {int(header.group(1))} at {at} is defined but not listed in the update")


def _inside_stream(pdf: bytes, obj_start: int, at: int, obj_end: int) -> bool:
    """Whether ``at`` lies in the stream data of the object spanning ``obj_start``…``obj_end``."""
    opened = pdf.find(b"stream", obj_start, at)
    return opened >= 0 and pdf.find(b"endstream", at, obj_end) >= 0


def _skip_whitespace(pdf: bytes, pos: int) -> int:
    """Past whitespace and ``%`` comments, which every reader skips between tokens (§7.2.3, §7.2.4)."""
    while pos < len(pdf):
        if pdf[pos] in _WHITESPACE:
            pos += 1
        elif pdf[pos] == 0x25:  # '%'
            eol = _EOL.search(pdf, pos)
            pos = len(pdf) if eol is None else eol.end()
        else:
            break
    return pos
