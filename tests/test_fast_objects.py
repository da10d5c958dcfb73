"""esign.pdf.fast_objects reads an object exactly as pyHanko's ``read_object`` does, or declines.

Every object of every object stream (and, for more syntax, every top-level object) of the shared corpus
and of the project's own documents, signed and unsigned, is read by both: where the fast reader answers,
the answer must be pyHanko's in type, value, nesting, ``container_ref`` and reference targets, and it
must answer for most of them. Then mutated real syntax: the fast reader answers ``None`` or pyHanko's
result, and never raises.
"""

from __future__ import annotations

import decimal
import enum
import random
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from io import BytesIO
from pathlib import Path

import pytest
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.reader import PdfFileReader

from esign.pdf import fast_objects
from esign.pdf.indexed_reader import IndexedReader, _StreamIndex
from fixtures.documents import form_pdf, licence_pdf, long_pdf
from tests.verify_signing import sign

#: share of object-stream objects the fast reader must take (the rest goes to pyHanko)
MIN_TAKEN = 0.9
_OBJECT_HEADER = re.compile(rb"(?<![0-9])(\d+)[ \t\r\n\f\x00]+(\d+)[ \t\r\n\f\x00]+obj[ \t\r\n\f\x00]*")


def _describe(obj: object) -> object:
    """Everything that makes a parsed object what it is, as plain comparable data."""
    if isinstance(obj, generic.Reference):
        return ("Reference", obj.idnum, obj.generation, id(obj.pdf))
    if isinstance(obj, enum.Enum):
        return repr(obj)
    if not isinstance(obj, generic.PdfObject):
        return ("plain", type(obj), obj)
    attrs = tuple(
        sorted(
            (name, id(value) if name == "container_ref" else _describe(value))
            for name, value in vars(obj).items()
        )
    )
    content: object
    if isinstance(obj, dict):
        content = tuple((_describe(k), _describe(v)) for k, v in dict.items(obj))
    elif isinstance(obj, list):
        content = tuple(_describe(v) for v in list.__iter__(obj))
    elif isinstance(obj, (str, bytes, int, decimal.Decimal)):
        content = (str(obj), bytes(obj)) if isinstance(obj, bytes) else str(obj)
    elif isinstance(obj, generic.BooleanObject):
        content = obj.value
    else:
        content = None
    return (type(obj), content, attrs)


def _pyhanko(data: bytes, pos: int, ref: generic.Reference) -> object:
    stream = BytesIO(data)
    stream.seek(pos)
    try:
        return _describe(generic.read_object(stream, ref))
    except Exception as exc:  # which error, if any, is part of what is compared
        return ("error", type(exc))


@dataclass
class _Tally:
    taken: int = 0
    declined: int = 0
    declined_samples: list[bytes] = field(default_factory=list)

    def check(self, data: bytes, pos: int, ref: generic.Reference) -> None:
        fast = fast_objects.read_object(data, pos, ref)
        if fast is None:
            self.declined += 1
            self.declined_samples.append(data[pos : pos + 60])
            return
        self.taken += 1
        assert _describe(fast) == _pyhanko(data, pos, ref), data[pos : pos + 200]


def _object_stream_objects(
    pdf: bytes, reader: PdfFileReader
) -> Iterator[tuple[bytes, int, generic.Reference]]:
    """(data, position, container reference) of each object in each object stream of ``pdf``."""
    for header in _OBJECT_HEADER.finditer(pdf):
        stream = BytesIO(pdf)
        stream.seek(header.end())
        try:
            obj = generic.read_object(stream, generic.Reference(int(header[1]), int(header[2]), reader))
            if not (isinstance(obj, generic.StreamObject) and obj.get("/Type") == "/ObjStm"):
                continue
            index = _StreamIndex(obj, None)
        except Exception:  # a damaged or encrypted stream: nothing to compare
            continue
        for number, (_, offset) in index.entries.items():
            yield index.data, index.first + offset, generic.Reference(number, 0, reader)


def _top_level_objects(pdf: bytes, reader: PdfFileReader) -> Iterator[tuple[bytes, int, generic.Reference]]:
    for header in _OBJECT_HEADER.finditer(pdf):
        yield pdf, header.end(), generic.Reference(int(header[1]), int(header[2]), reader)


def _compare(pdfs: list[bytes]) -> tuple[_Tally, _Tally]:
    in_streams, top_level = _Tally(), _Tally()
    for pdf in pdfs:
        try:
            reader = PdfFileReader(BytesIO(pdf), strict=False)
        except Exception:  # pyHanko cannot open it: no reader to hand the parsers (the corpus has one)
            continue
        for sample in _object_stream_objects(pdf, reader):
            in_streams.check(*sample)
        for sample in _top_level_objects(pdf, reader):
            top_level.check(*sample)
    return in_streams, top_level


@pytest.fixture(scope="module")
def own_documents(pki) -> list[bytes]:
    many_pages = long_pdf(40)
    return [many_pages, sign(many_pages, pki), licence_pdf(), sign(form_pdf(), pki)]


def test_every_object_of_the_shared_corpus_reads_as_pyhanko_reads_it(shared_dir: Path) -> None:
    pdfs = [p.read_bytes() for p in sorted((shared_dir / "corpus").rglob("*.pdf"))]
    if not pdfs:
        pytest.skip("the shared corpus holds no PDF")
    in_streams, top_level = _compare(pdfs)
    assert in_streams.taken + in_streams.declined > 1000
    assert in_streams.taken >= MIN_TAKEN * (in_streams.taken + in_streams.declined), (
        in_streams.declined_samples
    )
    assert top_level.taken > 1000


def test_every_object_of_the_projects_documents_reads_as_pyhanko_reads_it(own_documents: list[bytes]) -> None:
    in_streams, top_level = _compare(own_documents)
    assert in_streams.taken > 100
    assert in_streams.declined == 0, in_streams.declined_samples
    assert top_level.taken > 0  # most top-level objects here are streams, which go to pyHanko


#: pieces a mutation puts in: comments, escapes, odd numbers and references, deep nesting, huge values
_INSERTS = [
    b"%c\n",
    b"%",
    b"\\",
    b"\\(",
    b"#20",
    b"#",
    b"(",
    b")",
    b"<",
    b">",
    b"[",
    b"]",
    b"<<",
    b">>",
    b"/",
    b" ",
    b"\x00",
    b"\x0b",
    b"\x80",
    b"e",
    b"s",
    b"stream\n",
    b"1.2.3",
    b"+-1",
    b".",
    b",",
    b"-.5",
    b"0 0 R ",
    b"1 0 R",
    b"9" * 40,
    b"9" * 5000,
    b"1" * 15 + b" 0 R ",
    b"truex",
    b"null",
    b"[" * 40,
    b"<<" * 40,
    b"[" * 400 + b"]" * 400,
    b"/K 1 /K 2",
]


def _mutants(sample: bytes, rnd: random.Random, count: int) -> Iterator[bytes]:
    for _ in range(count):
        data = bytearray(sample)
        for _ in range(rnd.randint(1, 3)):
            at = rnd.randint(0, len(data))
            move = rnd.random()
            if move < 0.3 and data:
                data[min(at, len(data) - 1)] = rnd.randrange(256)
            elif move < 0.5:
                del data[at:]
            elif move < 0.6:
                del data[at : at + rnd.randint(1, 4)]
            else:
                data[at:at] = rnd.choice(_INSERTS)
        yield bytes(data)


@pytest.mark.parametrize("strict", [False, True])
def test_mutated_syntax_reads_as_pyhanko_reads_it_or_is_declined(strict: bool) -> None:
    many_pages = long_pdf(5)
    reader = IndexedReader(BytesIO(many_pages), strict=strict)
    samples = sorted({data[pos : pos + 400] for data, pos, _ in _object_stream_objects(many_pages, reader)})
    samples += [b"<< /A [1 -2 +3 .5 -.5 6. 1 0 R (x) <41> true false null] /B << /C /D >> >> 7"]
    rnd = random.Random(17 + strict)
    tally = _Tally()
    for sample in samples:
        for mutant in _mutants(sample, rnd, 150):
            for pos in (0, rnd.randint(0, len(mutant))):
                tally.check(mutant, pos, generic.Reference(4, 0, reader))
    assert tally.taken > 1000  # the mutations leave much syntax plain: the comparison compares
    assert tally.declined > 1000


#: the edges read from pyHanko's reader: what it takes, what it refuses, where it looks further
_EDGES = [
    b"12 0 R",  # at the end: pyHanko's pattern wants a byte after R, so this is the number 12
    b"12 0 R ",
    b"12 0\x0bR ",
    b"12\x0b0 R ",
    b"1 0 R1 ",
    b"[1 0 R1 0 R]",
    b"0 0 R ",
    b"123456789 0        R ",
    b"[12345678901 0     R]",
    b"<< /A 1 >>stream\n",
    b"<< /A 1 >> %c",
    b"<< /A 1 >>\n  s",
    b"<< /A 1 >>\n  x",
    b"<< /A 1 >x",
    b"<< /A 1 /A 2 >>",
    b"<< /A >>",
    b"<</A/B>>",
    b"true1",
    b"[true1]",
    b"[1,2]",
    b"[1.2.3]",
    b"[. + - 5. -.5 +.5 -0 -0.0 007 1e5]",
    b"[/A#20 /B]",
    b"[(a(b)c) (d)]",
    b"[(a\\)b)]",
    b"[<41 4> <4G> <>]",
    b"[nul null nullx]",
    b" 1",
    b"%c\n1",
    b"[1 2",
    b">>",
    b"]",
    b"[" * 40 + b"]" * 40,
    b"9" * 5000,
]


@pytest.mark.parametrize("strict", [False, True])
def test_the_edges_of_pyhankos_syntax_read_as_pyhanko_reads_them(strict: bool) -> None:
    reader = IndexedReader(BytesIO(long_pdf(1)), strict=strict)
    tally = _Tally()
    for data in _EDGES:
        tally.check(data, 0, generic.Reference(4, 0, reader))
    ref = generic.Reference(4, 0, reader)
    assert fast_objects.read_object(b"12 0 R", 0, ref) == 12
    deepest = fast_objects.MAX_DEPTH
    assert fast_objects.read_object(b"[" * deepest + b"]" * deepest, 0, ref) is not None
    assert fast_objects.read_object(b"[" * (deepest + 1) + b"]" * (deepest + 1), 0, ref) is None
    assert tally.taken >= 5
