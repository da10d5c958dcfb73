"""Find every signature field and document timestamp, and judge each one's ByteRange.

pyHanko's ``embedded_signatures`` skips what it does not support (``adbe.pkcs7.sha1``, oddly typed
timestamps, unknown SubFilters), and an intake office must never lose a signature silently; so the
AcroForm tree (and page widgets outside it) is walked here, and every filled field is kept.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal

from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.misc import PdfError

from esign.pdf.input import ParsedPdf

_MAX_FIELD_DEPTH = 32

Coverage = Literal["entire_file", "entire_revision", "partial", "unknown"]


@dataclass(frozen=True)
class SignatureSlot:
    """A signature field as found in the file, before any cryptography."""

    field_name: str
    field: generic.DictionaryObject
    #: the signature dictionary (/V); ``None`` for an empty field
    value: generic.DictionaryObject | None
    #: ``/Sig`` or ``/DocTimeStamp`` as declared (may be missing or wrong)
    declared_type: str | None
    subfilter: str | None
    byte_range: tuple[int, ...] | None
    contents: bytes | None

    @property
    def is_timestamp(self) -> bool:
        return self.subfilter == "/ETSI.RFC3161" or self.declared_type == "/DocTimeStamp"

    @property
    def file_position(self) -> int:
        """Where the /Contents hole starts: the order signatures were written in."""
        if self.byte_range and len(self.byte_range) == 4:
            return self.byte_range[1]
        return 1 << 62


@dataclass(frozen=True)
class ByteRangeCheck:
    problems: tuple[str, ...]
    coverage: Coverage
    #: end offset of the signed revision (``None`` when the ByteRange is unusable)
    signed_end: int | None


def find_signatures(pdf: ParsedPdf) -> tuple[list[SignatureSlot], list[str]]:
    """Filled signature slots in file order, and the names of empty signature fields."""
    filled: list[SignatureSlot] = []
    empty: list[str] = []
    seen: set[int] = set()
    for name, field in _candidate_fields(pdf):
        if id(field) in seen:
            continue
        seen.add(id(field))
        slot = _slot(name, field)
        if slot is None:
            continue
        if slot.value is None:
            empty.append(slot.field_name)
        else:
            filled.append(slot)
    filled.sort(key=lambda s: s.file_position)
    return filled, empty


def check_byte_range(pdf: ParsedPdf, slot: SignatureSlot) -> ByteRangeCheck:
    """PAdES ByteRange sanity: [0, a, b, c] covering all but exactly the /Contents string, within the file."""
    br = slot.byte_range
    size = len(pdf.data)
    if br is None or len(br) != 4 or any(not isinstance(x, int) or x < 0 for x in br):
        return ByteRangeCheck(("ByteRange is not four non-negative integers",), "unknown", None)
    start, len1, start2, len2 = br
    problems: list[str] = []
    if start != 0:
        problems.append(f"ByteRange starts at {start}, not 0")
    if start2 < start + len1:
        problems.append("ByteRange parts overlap or are out of order")
    end = start2 + len2
    if end > size:
        problems.append(f"ByteRange ends at {end}, beyond the end of the file ({size})")
    elif not _gap_is_contents(pdf.data, start + len1, start2, slot.contents):
        problems.append("the gap in the ByteRange is not exactly the /Contents value")
    if problems:
        return ByteRangeCheck(tuple(problems), "partial", None)
    if end == size or (size - end <= 64 and pdf.data[end:].strip(b" \t\r\n\x00") == b""):
        return ByteRangeCheck((), "entire_file", end)
    if _ends_a_revision(pdf.data, end):
        return ByteRangeCheck((), "entire_revision", end)
    return ByteRangeCheck(("the signed range does not end at the end of a revision",), "partial", end)


def _ends_a_revision(data: bytes, end: int) -> bool:
    """``end`` is just past a ``%%EOF`` marker, give or take end-of-line whitespace."""
    marker = data.rfind(b"%%EOF", max(0, end - 64), end)
    return marker >= 0 and data[marker + 5 : end].strip(b" \t\r\n\x00") == b""


def _gap_is_contents(data: bytes, gap_start: int, gap_end: int, contents: bytes | None) -> bool:
    """The hole must be the hex string ``<…>`` of /Contents and nothing else (no hidden objects)."""
    if (
        gap_end - gap_start < 2
        or data[gap_start : gap_start + 1] != b"<"
        or data[gap_end - 1 : gap_end] != b">"
    ):
        return False
    inner = bytes(memoryview(data)[gap_start + 1 : gap_end - 1])
    hexdigits = inner.translate(None, b" \t\r\n\x0c")
    try:
        decoded = bytes.fromhex(hexdigits.decode("ascii"))
    except (UnicodeDecodeError, ValueError):
        return False
    return contents is None or decoded.rstrip(b"\x00") == contents.rstrip(b"\x00")


def _candidate_fields(pdf: ParsedPdf) -> Iterator[tuple[str, generic.DictionaryObject]]:
    """AcroForm fields (recursively), then widget annotations on pages that the form forgot."""
    root = pdf.reader.root
    try:
        form = _get(root, "/AcroForm")
        fields = _get(form.get_object(), "/Fields") if form is not None else None
    except (PdfError, AttributeError, KeyError, TypeError):
        fields = None
    if isinstance(fields, generic.ArrayObject):
        yield from _walk_fields(fields, "", None, 0, set())
    yield from _page_widgets(pdf)


def _walk_fields(
    kids: generic.ArrayObject, prefix: str, inherited_ft: object, depth: int, visited: set[tuple[int, int]]
) -> Iterator[tuple[str, generic.DictionaryObject]]:
    if depth > _MAX_FIELD_DEPTH:
        return
    for ref in kids:
        key = (ref.idnum, ref.generation) if isinstance(ref, generic.IndirectObject) else None
        if key is not None:
            if key in visited:
                continue
            visited.add(key)
        try:
            field = ref.get_object()
        except (PdfError, ValueError, KeyError, TypeError):
            continue
        if not isinstance(field, generic.DictionaryObject):
            continue
        partial = _text(_get(field, "/T"))
        name = f"{prefix}.{partial}" if prefix and partial else (partial or prefix)
        ft = _get(field, "/FT", inherited_ft)
        if _looks_like_signature(field, ft):
            yield name, field
        sub = _get(field, "/Kids")
        if isinstance(sub, generic.ArrayObject):
            yield from _walk_fields(sub, name, ft, depth + 1, visited)


def _page_widgets(pdf: ParsedPdf) -> Iterator[tuple[str, generic.DictionaryObject]]:
    for number, page in enumerate(_pages(_get(pdf.reader.root, "/Pages"), 0, set()), start=1):
        try:
            annots = _get(page, "/Annots")
            annots = annots.get_object() if annots is not None else None
            if not isinstance(annots, generic.ArrayObject):
                continue
            for annot in annots:
                widget = annot.get_object()
                if isinstance(widget, generic.DictionaryObject) and _looks_like_signature(
                    widget, _get(widget, "/FT")
                ):
                    yield _text(_get(widget, "/T")) or f"(widget on page {number})", widget
        except (PdfError, ValueError, KeyError, TypeError, AttributeError):
            continue


def _pages(node: object, depth: int, visited: set[int]) -> Iterator[generic.DictionaryObject]:
    """Leaves of the page tree, tolerating cycles and junk (this runs on untrusted files)."""
    try:
        node = node.get_object() if isinstance(node, generic.IndirectObject) else node
    except (PdfError, ValueError, KeyError, TypeError):
        return
    if not isinstance(node, generic.DictionaryObject) or id(node) in visited or depth > _MAX_FIELD_DEPTH:
        return
    visited.add(id(node))
    kids = _get(node, "/Kids")
    if isinstance(kids, generic.ArrayObject):
        for kid in kids:
            yield from _pages(kid, depth + 1, visited)
    else:
        yield node


def _looks_like_signature(field: generic.DictionaryObject, ft: object) -> bool:
    if ft == "/Sig":
        return True
    try:
        value = _get(field, "/V")
        value = value.get_object() if value is not None else None
    except (PdfError, ValueError, KeyError, TypeError):
        return False
    return isinstance(value, generic.DictionaryObject) and (
        _get(value, "/Type") in ("/Sig", "/DocTimeStamp") or ("/ByteRange" in value and "/Contents" in value)
    )


def _slot(name: str, field: generic.DictionaryObject) -> SignatureSlot | None:
    try:
        value = _get(field, "/V")
        value = value.get_object() if value is not None else None
    except (PdfError, ValueError, KeyError, TypeError):
        value = None
    if not isinstance(value, generic.DictionaryObject):
        return SignatureSlot(name, field, None, None, None, None, None)
    raw_br = _get(value, "/ByteRange")
    byte_range = tuple(x if isinstance(x, int) else -1 for x in raw_br) if isinstance(raw_br, list) else None
    contents = (
        value.raw_get("/Contents", decrypt=generic.EncryptedObjAccess.RAW) if "/Contents" in value else None
    )
    return SignatureSlot(
        field_name=name or "(unnamed)",
        field=field,
        value=value,
        declared_type=_name(_get(value, "/Type")),
        subfilter=_name(_get(value, "/SubFilter")),
        byte_range=byte_range,
        contents=bytes(contents) if isinstance(contents, generic.ByteStringObject | bytes) else None,
    )


def _get(obj: object, key: str, default: object = None) -> object:
    """``obj[key]`` resolved; unlike ``dict.get`` this also decrypts strings of an encrypted file.

    A null value (``/ByteRange null``, or a reference to a missing object) is an absent entry
    (ISO 32000-1 7.3.7); pyHanko raises KeyError for it, which would make one forged signature
    dictionary refuse the whole document as corrupt instead of being reported as a broken signature.
    """
    if isinstance(obj, generic.DictionaryObject) and key in obj:
        try:
            return obj[key]
        except KeyError:
            return default
    return default


def _name(obj: object) -> str | None:
    return str(obj) if isinstance(obj, generic.NameObject) else None


def _text(obj: object) -> str:
    if isinstance(obj, generic.TextStringObject | str):
        return str(obj)
    if isinstance(obj, generic.ByteStringObject | bytes):
        return bytes(obj).decode("latin-1")
    return ""
