"""pyHanko's PDF reader with object streams indexed once.

pyHanko re-parses an object stream's whole header (N pairs of numbers) for every object it takes from
that stream, so reading every object of a stream is quadratic: in a 200-page document the page walk
that looks for signature widgets and overlapping annotations spent most of the verification time
there. :class:`IndexedReader` parses each header once. Only the regular case takes the fast path;
anything unusual (an index that does not match, an object that is a stream or a reference, a parse
error) is handed to pyHanko's own code, so strict and tolerant reading keep pyHanko's exact verdicts.
The objects themselves are read by :mod:`esign.pdf.fast_objects` where their syntax is plain, by
pyHanko's ``read_object`` otherwise.

Objects inside a compressed object stream escape the upload's pre-scan for oversized syntax
(:func:`esign.pdf.input.oversized_syntax`): a 10 MB hex string deflates to a few kilobytes. The index
knows where each object starts, so it refuses an object longer than ``max_object_syntax`` before
pyHanko's tokenizer reads it.
"""

from __future__ import annotations

from io import BytesIO
from itertools import pairwise

from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.decode_limits import DecodePurpose
from pyhanko.pdf_utils.misc import PdfDecodeLimitError, PdfError
from pyhanko.pdf_utils.reader import PdfFileReader

from esign.pdf import fast_objects, fast_tokens

__all__ = ["IndexedReader"]

fast_tokens.install()


class _StreamIndex:
    """One object stream: its decoded data, where its objects start, object number → (index, offset)."""

    def __init__(self, stream: generic.StreamObject, max_object_syntax: int | None) -> None:
        self.stream = stream
        self.data = stream.read_data(DecodePurpose.OBJECT_STREAM)
        self.first = int(stream["/First"])
        numbers = [int(t) for t in self.data[: self.first].split()]
        count = int(stream["/N"])
        if len(numbers) < 2 * count:
            raise ValueError("object stream header shorter than /N")
        self.entries = {numbers[2 * i]: (i, numbers[2 * i + 1]) for i in range(count)}
        if max_object_syntax is not None:
            starts = sorted({offset for _, offset in self.entries.values()} | {len(self.data) - self.first})
            longest = max((b - a for a, b in pairwise(starts)), default=0)
            if longest > max_object_syntax:
                raise PdfDecodeLimitError(
                    f"an object of {longest} bytes in an object stream (limit {max_object_syntax})"
                )


class IndexedReader(PdfFileReader):
    """A :class:`PdfFileReader` whose object-stream lookups cost one header parse per stream."""

    def __init__(self, *args: object, max_object_syntax: int | None = None, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self._max_object_syntax = max_object_syntax
        self._stream_indexes: dict[int, tuple[generic.PdfObject, _StreamIndex | None]] = {}

    def _get_object_from_stream(self, idnum: int, stmnum: int, idx: int) -> generic.PdfObject:
        index = self._index(stmnum)
        entry = index.entries.get(idnum) if index is not None else None
        if index is None or entry is None or entry[0] != idx:
            return super()._get_object_from_stream(idnum, stmnum, idx)
        start = index.first + entry[1]
        container_ref = generic.Reference(idnum, 0, self)
        obj = fast_objects.read_object(index.data, start, container_ref)
        if obj is None:  # not plain syntax: pyHanko's reader decides
            data = BytesIO(index.data)
            data.seek(start)
            try:
                obj = generic.read_object(data, container_ref)
            except (PdfError, ValueError):
                return super()._get_object_from_stream(idnum, stmnum, idx)
        if isinstance(obj, (generic.StreamObject, generic.IndirectObject)):
            return super()._get_object_from_stream(idnum, stmnum, idx)
        return obj

    def _index(self, stmnum: int) -> _StreamIndex | None:
        """The index of the current object stream ``stmnum`` (None: irregular, use pyHanko's path)."""
        stream = generic.Reference(stmnum, 0, self).get_object()
        cached = self._stream_indexes.get(stmnum)
        if cached is not None and cached[0] is stream:
            return cached[1]
        try:
            regular = isinstance(stream, generic.StreamObject) and stream["/Type"] == "/ObjStm"
            index = _StreamIndex(stream, self._max_object_syntax) if regular else None
        except PdfDecodeLimitError:
            raise
        except (PdfError, ValueError, KeyError, TypeError):
            index = None
        self._stream_indexes[stmnum] = (stream, index)
        return index
