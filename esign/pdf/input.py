"""Admission of uploaded bytes: size and type guards, strict-then-tolerant parsing, decode limits.

Everything that can make a hostile upload crash or exhaust the verifier is refused here with a typed
:class:`EsignError`, before any signature is looked at. Third-party producers often write slightly
broken files, so a strict parse failure is retried tolerantly (last with a broken /Prev chain re-linked,
:mod:`esign.pdf.xref_relink`) and reported as a finding rather than rejected; only files that neither parser
can read are refused. The reader may then parse repaired bytes; ``ParsedPdf.data`` stays the upload.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cached_property
from io import BytesIO

from pyhanko.pdf_utils.crypt import AuthStatus
from pyhanko.pdf_utils.decode_limits import DecodeLimits, StreamDecodeLimits
from pyhanko.pdf_utils.misc import PdfDecodeLimitError
from pyhanko.pdf_utils.reader import PdfFileReader

from esign.errors import ErrorCode, EsignError
from esign.pdf.digests import FileDigests
from esign.pdf.indexed_reader import IndexedReader
from esign.pdf.open import PARSER_CRASHES, looks_like_pdf
from esign.pdf.updates import last_closer_end
from esign.pdf.xref_relink import relink_xref_tables
from esign.policy import Limits

_HEADER_WINDOW = 1024
#: how many earlier revisions an unreadable file is tried at (each try parses a prefix of the file)
_EARLIER_REVISIONS_TRIED = 4
#: what separates object syntax from what it holds: object headers, stream data, section keywords
_SYNTAX_MARK = re.compile(
    rb"(?<![0-9])\d+[\x00\t\n\x0c\r ]+\d+[\x00\t\n\x0c\r ]+obj\b|\bstream(?:\r\n|\n|\r)|\bendobj\b"
    rb"|\bxref\b|\btrailer\b|\bstartxref\b"
)
#: a stream's length given as a number, not as a reference (``/Length 12 0 R``)
_DIRECT_LENGTH = re.compile(
    rb"/Length[\x00\t\n\x0c\r ]+(\d{1,12})(?![\x00\t\n\x0c\r ]+\d+[\x00\t\n\x0c\r ]+R)\b"
)
_ENDSTREAM_AT = re.compile(rb"(?:\r\n|\n|\r)?endstream")
#: what a hex string is made of (ISO 32000-1 §7.3.4.3: hex digits and white space)
_HEX_BYTES = b"0123456789ABCDEFabcdef\x00\t\n\x0c\r "
_HEX_RUN_FROM = re.compile(rb"[0-9A-Fa-f\x00\t\n\x0c\r ]*")


@dataclass(frozen=True)
class ParsedPdf:
    data: bytes
    reader: PdfFileReader
    tolerant: bool
    #: the reader parses a copy whose cross-reference pointers were re-linked (:mod:`esign.pdf.xref_relink`)
    relinked: bool = False

    @property
    def revisions(self) -> int:
        return self.reader.total_revisions

    @cached_property
    def revision_ends(self) -> tuple[int, ...]:
        """Offset just past each revision's ``%%EOF``, by revision number (pyHanko numbering).

        Monotone by construction: a linearized file's first-page cross-reference section sits at the
        start of the file but belongs to the revision that ends with the main one.
        """
        ends: list[int] = []
        for r in range(self.revisions):
            ends.append(max(revision_end(self.data, self.reader, r), ends[-1] if ends else 0))
        return tuple(ends)

    @cached_property
    def digests(self) -> FileDigests:
        """Every digest of this file's bytes that the checks ask for, each computed once."""
        return FileDigests(self.data)

    def page_count(self) -> int | None:
        """The declared page count; ``None`` when the page tree is unreadable (reported elsewhere)."""
        try:
            count = self.reader.root["/Pages"]["/Count"]
            return int(count) if isinstance(count, int) and count >= 0 else None
        except PARSER_CRASHES:
            return None


def open_pdf(data: bytes, limits: Limits) -> ParsedPdf:
    """Admit ``data`` as a PDF or raise :class:`EsignError` saying why not."""
    if len(data) > limits.max_file_size:
        raise EsignError(ErrorCode.PDF_TOO_LARGE, limit=limits.max_file_size)
    if not looks_like_pdf(data):
        raise EsignError(ErrorCode.NOT_A_PDF)
    oversized = oversized_syntax(data, limits.max_object_syntax)
    if oversized is not None:
        raise EsignError(ErrorCode.PDF_TOO_COMPLEX, detail=oversized)
    try:
        reader, tolerant, relinked = _read_strictly(data, limits), False, False
    except PdfDecodeLimitError as exc:
        raise EsignError(ErrorCode.PDF_TOO_COMPLEX, detail=str(exc)) from exc
    except PARSER_CRASHES:
        (reader, relinked), tolerant = _read_tolerantly(data, limits), True
    if reader.encrypted and not _opens_without_password(reader):
        raise EsignError(ErrorCode.PDF_ENCRYPTED)
    return ParsedPdf(data=data, reader=reader, tolerant=tolerant, relinked=relinked)


def oversized_syntax(data: bytes, limit: int) -> str | None:
    """Where ``data`` holds more than ``limit`` bytes of object syntax in one piece, or ``None``.

    pyHanko's tokenizer reads strings, names and arrays a character at a time and keeps a Python object
    per character or element: one 10 MB hex string cost 1 GB of memory and 20 s, a 2 MB array of
    numbers 30 s. Whatever one object says outside its stream data (its dictionary, a string, a name,
    an array, any nesting) lies between two structural marks — an object header, ``stream``,
    ``endobj``, ``xref``, ``trailer`` — so bounding the distance between marks bounds every token
    before the parser sees it, in one linear regex pass. Stream data is skipped up to ``endstream``
    (it is decoded under its own limit); because a forged ``stream`` keyword inside a string could
    skip a bomb that way, hex strings are also looked for across the whole file.
    """
    if len(data) <= limit:
        return None
    pos, too_long = 0, f"more than {limit} bytes of object syntax at offset %d"
    while pos < len(data):
        mark = _SYNTAX_MARK.search(data, pos, pos + limit + 64)  # never scan further than a bomb needs
        if mark is None and len(data) - pos <= limit:
            break
        if mark is None or mark.start() - pos > limit:
            return too_long % pos
        if mark.group().startswith(b"stream"):
            pos = _past_stream_data(data, mark.end(), data[pos : mark.start()])
        else:
            pos = mark.end()
    hex_start = _long_hex_string(data, limit)
    if hex_start is not None:
        return f"a hex string of more than {limit} bytes at offset {hex_start}"
    return None


def _past_stream_data(data: bytes, start: int, dictionary: bytes) -> int:
    """Just past the ``endstream`` of stream data starting at ``start``.

    Where the dictionary says ``/Length N`` (once, directly) and ``endstream`` stands N bytes on,
    that is the answer without reading the data (searching 50 MB of images for ``endstream`` cost
    as much as hashing them); otherwise the first ``endstream`` after ``start``. Either way the
    skipped bytes are data a forger chose, which is why hex strings are also looked for everywhere.
    """
    lengths = _DIRECT_LENGTH.findall(dictionary)
    if len(lengths) == 1:
        declared = _ENDSTREAM_AT.match(data, start + int(lengths[0]))
        if declared is not None:
            return declared.end()
    end = data.find(b"endstream", start)
    return len(data) if end < 0 else end + 9


def _long_hex_string(data: bytes, limit: int) -> int | None:
    """Where the first ``<`` followed by at least ``limit`` hex-string bytes is, or ``None``.

    A run of ``limit`` such bytes covers a multiple of ``limit // 2``, so only those offsets are
    probed (a regex over the whole file cost as much as hashing it): a probe that lands in a run not
    yet seen finds its start within the last step and its end by a match, and the run counts when it
    is long enough and a ``<`` opens it. Every byte is looked at at most twice.
    """
    step = max(1, limit // 2)
    probe = 0
    while probe < len(data):
        if data[probe] not in _HEX_BYTES:
            probe += step
            continue
        start = _run_start(data, probe, step)
        end = _HEX_RUN_FROM.match(data, probe).end()
        if end - start >= limit and start > 0 and data[start - 1] == ord("<"):
            return start - 1
        probe += step * ((end - probe) // step + 1)
    return None


def _run_start(data: bytes, probe: int, most: int) -> int:
    """Where the run of hex-string bytes through ``probe`` starts, looking back at most ``most`` bytes.

    In binary data a run is a few bytes long: look at 64 first rather than copy a long window.
    """
    back = min(64, most)
    while True:
        low = max(0, probe + 1 - back)
        kept = len(data[low : probe + 1].rstrip(_HEX_BYTES))
        if kept or low == 0 or back >= most:
            return low + kept
        back = most


def _read_strictly(data: bytes, limits: Limits) -> PdfFileReader:
    """The strict parser; bytes after the last ``startxref … %%EOF`` are cut off for it.

    pyHanko looks for the last ``%%EOF`` near the end of the file and expects ``startxref`` before it,
    so a harmless tail (whitespace, repeated ``%%EOF`` lines) would make a well-formed file "corrupt",
    and appended junk would hide the signed revisions from the report. What was cut is judged later
    (:mod:`esign.pdf.updates`); the offsets stay the upload's.
    """
    try:
        return _read(data, strict=True, limits=limits)
    except PARSER_CRASHES:
        end = last_closer_end(data)
        if end is None or end == len(data):
            raise
    return _read(data[:end], strict=True, limits=limits)


def _read_tolerantly(data: bytes, limits: Limits) -> tuple[PdfFileReader, bool]:
    """The tolerant parser, on the bytes as they are, then with a broken /Prev chain re-linked (True)."""
    try:
        return _read(data, strict=False, limits=limits), False
    except PdfDecodeLimitError as exc:
        raise EsignError(ErrorCode.PDF_TOO_COMPLEX, detail=str(exc)) from exc
    except PARSER_CRASHES as exc:
        relinked = relink_xref_tables(data)
        if relinked is not None:
            try:
                return _read(relinked, strict=False, limits=limits), True
            except PdfDecodeLimitError as limit:
                raise EsignError(ErrorCode.PDF_TOO_COMPLEX, detail=str(limit)) from limit
            except PARSER_CRASHES:
                pass  # try an earlier revision, then report the original failure below
        earlier = _read_earlier_revision(data, limits)
        if earlier is not None:
            return earlier, False
        if data.find(b"%%EOF", max(0, len(data) - _HEADER_WINDOW)) < 0:
            raise EsignError(ErrorCode.PDF_TRUNCATED) from exc
        raise EsignError(ErrorCode.PDF_CORRUPT, detail=_short(exc)) from exc


def _read_earlier_revision(data: bytes, limits: Limits) -> PdfFileReader | None:
    """The file as it was at an earlier ``%%EOF``, when the last updates cannot be read at all.

    A signed document with an unreadable update appended (a broken xref stream, a second document
    glued on) still has signatures to report; what follows the revision read here is judged as bytes
    no well-formed update explains (:mod:`esign.pdf.updates`), so nothing after it can pass.
    """
    end: int | None = len(data)
    for _ in range(_EARLIER_REVISIONS_TRIED):
        end = last_closer_end(data, end)
        if end is None:
            return None
        if end < len(data.rstrip(b"\x00\t\n\x0c\r ")):
            try:
                return _read(data[:end], strict=False, limits=limits)
            except PARSER_CRASHES:
                pass
        end -= 5  # before this %%EOF
    return None


def _opens_without_password(reader: PdfFileReader) -> bool:
    """Encrypted with an empty user password (permissions only): anyone may read it, and so do we."""
    try:
        return reader.decrypt(b"").status is not AuthStatus.FAILED
    except PARSER_CRASHES:
        return False


def end_of_revisions(pdf: bytes, reader: PdfFileReader, through: int) -> int:
    """Offset just past revisions 0…``through``: the furthest of their ``%%EOF`` markers, not the last
    one's, because a linearized file's first-page section (its last revision) sits at the start."""
    return max(revision_end(pdf, reader, r) for r in range(through + 1))


def revision_end(pdf: bytes, reader: PdfFileReader, revision: int) -> int:
    """Offset just past the ``%%EOF`` marker that closes ``revision`` (end-of-line not included).

    Signers differ on whether the signed range takes in the end-of-line after ``%%EOF``; comparing
    against the marker itself makes both agree.
    """
    info = reader.xrefs.get_xref_container_info(revision)
    eof = pdf.find(b"%%EOF", info.end_location)
    return len(pdf) if eof < 0 else eof + 5


def _read(data: bytes, *, strict: bool, limits: Limits) -> PdfFileReader:
    decode_limits = DecodeLimits(per_stream=StreamDecodeLimits(max_output_size=limits.max_decoded_stream))
    reader = IndexedReader(
        BytesIO(data), strict=strict, decode_limits=decode_limits, max_object_syntax=limits.max_object_syntax
    )
    _ = reader.root  # the catalog must resolve, or nothing else will
    return reader


def _short(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text if len(text) <= 200 else text[:197] + "..."
