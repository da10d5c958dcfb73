"""Uploads read as a stream with a hard size limit: an oversized body is refused while it arrives.

A declared ``Content-Length`` over the limit is refused before one byte of the body is read; a body
without one (chunked) is counted as it streams and cut off at the limit. Multipart files are
spooled by Starlette's parser to a temporary file past 1 MiB, so memory per request stays at
the spool size until the size check has passed. Only then is the document read into memory for
the worker (whose own input guard in ``esign.pdf.input`` sees the bytes).

Two shapes are accepted, as the intake systems send them: ``multipart/form-data`` with the PDF in
the ``file`` part (plus small option fields), or a raw ``application/pdf`` body.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from tempfile import SpooledTemporaryFile

from fastapi import Request
from starlette.datastructures import UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser

from esign.errors import ErrorCode, EsignError

__all__ = ["Form", "Upload", "read_form", "read_upload"]

#: room for multipart boundaries, part headers and the option fields beside the file
_MULTIPART_OVERHEAD = 64 * 1024
_MAX_FIELDS = 32
_MAX_FIELD_BYTES = 4096
_SPOOL_BYTES = 1024 * 1024
RAW_TYPES = ("application/pdf", "application/octet-stream")


@dataclass(frozen=True)
class Upload:
    pdf: bytes
    filename: str
    fields: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Form:
    """A multipart form: the one file part (when sent) and the small text fields."""

    file: bytes | None
    filename: str | None
    fields: dict[str, str] = field(default_factory=dict)


async def read_upload(request: Request, limit: int) -> Upload:
    """The document and the form fields of ``request``, refusing anything over ``limit`` bytes early."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    declared = request.headers.get("content-length")
    if content_type == "multipart/form-data":
        return await _read_multipart(request, limit)
    if content_type in RAW_TYPES:
        _refuse_declared(declared, limit, limit)
        pdf = await _read_raw(request, limit)
        return Upload(pdf=pdf, filename=request.query_params.get("filename", "document.pdf"))
    raise EsignError(ErrorCode.NOT_A_PDF)


def _refuse_declared(declared: str | None, cap: int, limit: int) -> None:
    if declared is not None and declared.isdigit() and int(declared) > cap:
        raise EsignError(ErrorCode.PDF_TOO_LARGE, limit=limit)


async def _limited(request: Request, cap: int, limit: int) -> AsyncIterator[bytes]:
    seen = 0
    async for chunk in request.stream():
        seen += len(chunk)
        if seen > cap:
            raise EsignError(ErrorCode.PDF_TOO_LARGE, limit=limit)
        yield chunk


async def read_json(request: Request, limit: int) -> bytes:
    """A small JSON body, read whole only after its size is known to be under ``limit``."""
    _refuse_declared(request.headers.get("content-length"), limit, limit)
    return await _read_raw(request, limit)


async def _read_raw(request: Request, limit: int) -> bytes:
    with SpooledTemporaryFile(max_size=_SPOOL_BYTES) as spool:
        async for chunk in _limited(request, limit, limit):
            spool.write(chunk)
        spool.seek(0)
        return spool.read()


async def read_form(request: Request, part: str, limit: int) -> Form:
    """A ``multipart/form-data`` body whose file part ``part`` may hold up to ``limit`` bytes."""
    _refuse_declared(request.headers.get("content-length"), limit + _MULTIPART_OVERHEAD, limit)
    parser = MultiPartParser(
        request.headers,
        _limited(request, limit + _MULTIPART_OVERHEAD, limit),
        max_files=1,
        max_fields=_MAX_FIELDS,
        max_part_size=_MAX_FIELD_BYTES,
    )
    try:
        form = await parser.parse()
    except MultiPartException as exc:
        raise EsignError(ErrorCode.MALFORMED_REQUEST, detail=exc.message) from None
    try:
        upload = form.get(part)
        fields = {key: value for key, value in form.multi_items() if isinstance(value, str)}
        if not isinstance(upload, UploadFile):
            if upload is not None:
                raise EsignError(ErrorCode.MALFORMED_REQUEST, detail=f"the part '{part}' must be a file")
            return Form(file=None, filename=None, fields=fields)
        if upload.size is not None and upload.size > limit:
            raise EsignError(ErrorCode.PDF_TOO_LARGE, limit=limit)
        return Form(file=await upload.read(), filename=upload.filename, fields=fields)
    finally:
        await form.close()


async def _read_multipart(request: Request, limit: int) -> Upload:
    form = await read_form(request, "file", limit)
    if form.file is None:
        raise EsignError(ErrorCode.MALFORMED_REQUEST, detail="the PDF goes in the multipart part 'file'")
    return Upload(pdf=form.file, filename=form.filename or "document.pdf", fields=form.fields)
