"""Streaming ``multipart/form-data``: each file part straight into a :class:`~api.spool.Spool` of its own.

Starlette's form parser spools file parts to a temporary file of its own (in memory up to 1 MiB,
then in the system temp dir), so a document would be written twice and land where the operator
did not put it. This drives python-multipart's parser (the one Starlette uses) with callbacks of
its own: the bytes of a file part go into a fresh spool as they arrive, hashed and counted against
the limit, and the spool is written out and closed when its part ends (so a batch of many parts
holds at most one part's buffer in memory); the small text fields beside them (seal options) stay
in memory, bounded in number and size. A form carries one file unless the route allows more
(a batch: ``max_files``, beyond it 413 ``TOO_MANY_DOCUMENTS``). Anything else — a second file
where one is allowed, a file in another part, an unnamed part — is a ``MALFORMED_REQUEST``, as it
was with Starlette's parser. A route may also take a few small files beside the document (the
``cert`` parts of ``POST /v1/verify``): those are kept in memory, at most :data:`MAX_SIDE_FILES`
of :data:`MAX_SIDE_BYTES` each.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

from python_multipart import MultipartParser
from python_multipart.exceptions import FormParserError
from python_multipart.multipart import parse_options_header

from api.spool import Spool
from esign.errors import ErrorCode, EsignError

__all__ = ["MAX_FIELDS", "MAX_FIELD_BYTES", "MAX_SIDE_BYTES", "MAX_SIDE_FILES", "FilePart", "parse_form"]

MAX_FIELDS = 32
MAX_FIELD_BYTES = 4096
#: small files beside the document (certificates): a CA certificate is 1–2 KiB, a PEM bundle a few
MAX_SIDE_FILES = 8
MAX_SIDE_BYTES = 64 * 1024


def _malformed(detail: str, detail_zh: str) -> EsignError:
    return EsignError(ErrorCode.MALFORMED_REQUEST, detail=detail, detail_zh=detail_zh)


def _text(raw: bytes) -> str:
    return raw.decode("utf-8", errors="replace")


@dataclass
class FilePart:
    """One file part of the form, on disk in ``spool``; ``sha256`` is set once the spool is finished."""

    filename: str
    spool: Spool
    sha256: str = ""


class _Collector:
    """python-multipart's callbacks for one form: each file part ``part`` to a new spool, fields to a dict."""

    def __init__(
        self, part: str, new_spool: Callable[[], Spool], max_files: int, max_total: int, side_part: str | None
    ) -> None:
        self.part = part
        self.side_part = side_part
        #: the ``side_part`` parts (file or text), in memory
        self.side_files: list[bytes] = []
        self._side: bytearray | None = None
        self.new_spool = new_spool
        self.max_files = max_files
        self.max_total = max_total
        self._total = 0
        self.files: list[FilePart] = []
        self.fields: dict[str, str] = {}
        #: the file part being read, and the parts ended since the last flush (bytes still buffered)
        self._file: FilePart | None = None
        self._ended: list[FilePart] = []
        self._headers: dict[bytes, bytes] = {}
        self._header_name = bytearray()
        self._header_value = bytearray()
        self._field_name = ""
        #: the text field being read; None while the part being read is the file
        self._field: bytearray | None = None

    def callbacks(self) -> dict[str, object]:
        names = ("part_begin", "part_data", "part_end", "header_field", "header_value", "header_end")
        return {f"on_{name}": getattr(self, f"on_{name}") for name in (*names, "headers_finished")}

    def on_part_begin(self) -> None:
        self._headers, self._field, self._file, self._side = {}, None, None, None

    def on_header_field(self, data: bytes, start: int, end: int) -> None:
        self._header_name += data[start:end]

    def on_header_value(self, data: bytes, start: int, end: int) -> None:
        self._header_value += data[start:end]

    def on_header_end(self) -> None:
        self._headers[bytes(self._header_name).lower()] = bytes(self._header_value)
        self._header_name, self._header_value = bytearray(), bytearray()

    def on_headers_finished(self) -> None:
        _, options = parse_options_header(self._headers.get(b"content-disposition"))
        if b"name" not in options:
            raise _malformed(
                'every part needs a Content-Disposition "name"', "每个部分都需要 Content-Disposition 的 name"
            )
        name = _text(options[b"name"])
        if name == self.side_part:
            if len(self.side_files) >= MAX_SIDE_FILES:
                raise _malformed(
                    f"at most {MAX_SIDE_FILES} parts '{name}'", f"“{name}”部分最多 {MAX_SIDE_FILES} 个"
                )
            self._side = bytearray()
            return
        if b"filename" in options:
            if name != self.part:
                raise _malformed(
                    f"the file goes in the multipart part '{self.part}'",
                    f"文件应放在名为“{self.part}”的部分中",
                )
            self._open(_text(options[b"filename"]))
            return
        if name == self.part:
            raise _malformed(f"the part '{self.part}' must be a file", f"“{self.part}”部分必须是文件")
        if len(self.fields) >= MAX_FIELDS:
            raise _malformed(f"at most {MAX_FIELDS} form fields", f"表单字段最多 {MAX_FIELDS} 个")
        self._field_name, self._field = name, bytearray()

    def _open(self, filename: str) -> None:
        if len(self.files) >= self.max_files:
            if self.max_files == 1:
                raise _malformed("one file per request", "每个请求只能上传一个文件")
            raise EsignError(ErrorCode.TOO_MANY_DOCUMENTS, limit=self.max_files)
        self._file = FilePart(filename, self.new_spool())
        self.files.append(self._file)

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        if self._side is not None:
            self._side += data[start:end]
            if len(self._side) > MAX_SIDE_BYTES:
                raise EsignError(ErrorCode.REQUEST_TOO_LARGE, limit=MAX_SIDE_BYTES)
            return
        if self._file is not None:
            self._total += end - start
            if self._total > self.max_total:
                raise EsignError(ErrorCode.PDF_TOO_LARGE, limit=self.max_total)
            self._file.spool.add(memoryview(data)[start:end])  # a view: the spool keeps it, uncopied
            return
        assert self._field is not None  # on_headers_finished opened a file or a field, or refused
        self._field += data[start:end]
        if len(self._field) > MAX_FIELD_BYTES:
            raise _malformed(
                f"the field '{self._field_name}' is longer than {MAX_FIELD_BYTES} bytes",
                f"字段“{self._field_name}”超过 {MAX_FIELD_BYTES} 字节",
            )

    def on_part_end(self) -> None:
        if self._side is not None:
            self.side_files.append(bytes(self._side))
        elif self._file is not None:
            self._ended.append(self._file)
            self._file = None
        elif self._field is not None:
            self.fields[self._field_name] = _text(self._field)

    async def flush(self, final: bool = False) -> None:
        """Finish the spools of the parts that ended; write out the current one's buffer (or finish it)."""
        if final and self._file is not None:
            self._ended.append(self._file)
            self._file = None
        ended, self._ended = self._ended, []
        for file in ended:
            file.sha256 = await file.spool.finish()
        if self._file is not None:
            await self._file.spool.drain()


async def parse_form(
    content_type: str,
    body: AsyncIterator[bytes],
    part: str,
    new_spool: Callable[[], Spool],
    max_files: int,
    max_total: int,
    side_part: str | None = None,
) -> tuple[list[FilePart], dict[str, str], list[bytes]]:
    """Parse ``body``; returns its file parts (none, one, or up to ``max_files`` of at most
    ``max_total`` bytes together; each spool holds its own limit), the text fields and the
    contents of the ``side_part`` parts.

    The spools come from ``new_spool``, one per file part; on any refusal every one of them is
    discarded before the error leaves, so the caller owns spools only once this returns.
    """
    _, params = parse_options_header(content_type)
    if not params.get(b"boundary"):
        raise _malformed("the multipart boundary is missing", "缺少 multipart 分隔符（boundary）")
    collector = _Collector(part, new_spool, max_files, max_total, side_part)
    try:
        try:
            parser = MultipartParser(params[b"boundary"], collector.callbacks())  # type: ignore[arg-type]
            async for chunk in body:
                parser.write(chunk)
                await collector.flush()
            parser.finalize()
        except FormParserError:
            raise _malformed("invalid multipart data", "multipart 数据无效") from None
        await collector.flush(final=True)
    except BaseException:
        for file in collector.files:
            file.spool.discard()
        raise
    return collector.files, collector.fields, collector.side_files
