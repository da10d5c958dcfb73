"""Streaming ``multipart/form-data``: the one file part straight into a :class:`~api.spool.Spool`.

Starlette's form parser spools file parts to a temporary file of its own (in memory up to 1 MiB,
then in the system temp dir), so a document would be written twice and land where the operator
did not put it. This drives python-multipart's parser (the one Starlette uses) with callbacks of
its own: the bytes of the file part go into the upload's spool as they arrive, hashed and counted
against the limit; the small text fields beside it (seal options) stay in memory, bounded in
number and size. Anything else — a second file, a file in another part, an unnamed part — is a
``MALFORMED_REQUEST``, as it was with Starlette's parser.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from python_multipart import MultipartParser
from python_multipart.exceptions import FormParserError
from python_multipart.multipart import parse_options_header

from api.spool import Spool
from esign.errors import ErrorCode, EsignError

__all__ = ["MAX_FIELDS", "MAX_FIELD_BYTES", "parse_form"]

MAX_FIELDS = 32
MAX_FIELD_BYTES = 4096


def _malformed(detail: str, detail_zh: str) -> EsignError:
    return EsignError(ErrorCode.MALFORMED_REQUEST, detail=detail, detail_zh=detail_zh)


def _text(raw: bytes) -> str:
    return raw.decode("utf-8", errors="replace")


class _Collector:
    """python-multipart's callbacks for one form: the file part ``part`` to ``spool``, fields to a dict."""

    def __init__(self, part: str, spool: Spool) -> None:
        self.part = part
        self.spool = spool
        self.filename: str | None = None
        self.fields: dict[str, str] = {}
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
        self._headers, self._field = {}, None

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
        if b"filename" in options:
            if name != self.part:
                raise _malformed(
                    f"the file goes in the multipart part '{self.part}'",
                    f"文件应放在名为“{self.part}”的部分中",
                )
            if self.filename is not None:
                raise _malformed("one file per request", "每个请求只能上传一个文件")
            self.filename = _text(options[b"filename"])
            return
        if name == self.part:
            raise _malformed(f"the part '{self.part}' must be a file", f"“{self.part}”部分必须是文件")
        if len(self.fields) >= MAX_FIELDS:
            raise _malformed(f"at most {MAX_FIELDS} form fields", f"表单字段最多 {MAX_FIELDS} 个")
        self._field_name, self._field = name, bytearray()

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        if self._field is None:
            self.spool.add(data[start:end])
            return
        self._field += data[start:end]
        if len(self._field) > MAX_FIELD_BYTES:
            raise _malformed(
                f"the field '{self._field_name}' is longer than {MAX_FIELD_BYTES} bytes",
                f"字段“{self._field_name}”超过 {MAX_FIELD_BYTES} 字节",
            )

    def on_part_end(self) -> None:
        if self._field is not None:
            self.fields[self._field_name] = _text(self._field)


async def parse_form(
    content_type: str, body: AsyncIterator[bytes], part: str, spool: Spool
) -> tuple[str | None, dict[str, str]]:
    """Parse ``body``; returns the file's name (None when no file was sent) and the text fields."""
    _, params = parse_options_header(content_type)
    if not params.get(b"boundary"):
        raise _malformed("the multipart boundary is missing", "缺少 multipart 分隔符（boundary）")
    collector = _Collector(part, spool)
    try:
        parser = MultipartParser(params[b"boundary"], collector.callbacks())  # type: ignore[arg-type]
        async for chunk in body:
            parser.write(chunk)
            await spool.drain()
        parser.finalize()
    except FormParserError:
        raise _malformed("invalid multipart data", "multipart 数据无效") from None
    return collector.filename, collector.fields
