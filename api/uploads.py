"""Uploads: received whole onto disk before any worker is involved, within limits a client cannot stretch.

A declared ``Content-Length`` over the limit is refused before one byte of the body is read; a body
without one (chunked) is counted as it streams and cut off at the limit. The document goes to a
private temporary file (``api.spool``; multipart parsed as it streams, ``api.formdata``) and is
hashed on the way; the verification worker reads that file by its path, so no document crosses a
pipe. The file is deleted when the request is done with it — answered, refused, the worker dead,
or the client gone.

:class:`Intake` also bounds the uploads *in progress* (body still arriving): at most
``ESIGN_UPLOADS_PER_CLIENT`` per client (the API key's client, or the address of an anonymous
caller; 429 ``TOO_MANY_UPLOADS`` with ``Retry-After`` beyond it) and ``ESIGN_MAX_UPLOADS`` in all
(503 ``OVERLOADED``), so a client trickling twenty bodies holds neither the disk nor everyone
else's turn. Routes enter a worker pool only once the body is complete (``api.workers``); the
pace of a body is the business of ``api.middleware.BodyDeadline``.

Two shapes are accepted, as the intake systems send them: ``multipart/form-data`` with the PDF in
the ``file`` part (plus small option fields), or a raw ``application/pdf`` body. A batch
(:meth:`Intake.documents`) may repeat the ``file`` part: each part gets a spool of its own, at most
the upload limit each and ``max_total`` bytes together.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from tempfile import SpooledTemporaryFile
from typing import Annotated

from fastapi import Depends, Request
from starlette.requests import ClientDisconnect

from api.formdata import MAX_SIDE_BYTES, MAX_SIDE_FILES, FilePart, parse_form
from api.settings import Settings
from api.spool import Spool, remove_spool_directory, spool_directory
from esign.errors import ErrorCode, EsignError
from keystore.authz import Principal

__all__ = ["Form", "Intake", "IntakeDep", "Upload", "read_json"]

#: room for multipart boundaries, part headers and the option fields beside the file
_MULTIPART_OVERHEAD = 64 * 1024
#: and for the boundary and headers (file name, content type) of every further file part (the
#: file bytes together are held to ``max_total`` exactly by the parser; this bounds the framing)
_PART_OVERHEAD = 2 * 1024
_SPOOL_BYTES = 1024 * 1024
#: a client at its cap of uploads in progress is told to come back after this many seconds
RETRY_AFTER_S = 5
RAW_TYPES = ("application/pdf", "application/octet-stream")


@dataclass(frozen=True)
class Upload:
    """A complete upload on disk: the job reads ``path``; size and digest are for the access log.

    ``sha256`` is ``""`` when the route asked for no digest (its worker reports it, ``api.spool``).
    """

    path: Path
    size: int
    sha256: str
    filename: str
    fields: dict[str, str] = field(default_factory=dict)
    #: the small files sent beside the document in the route's side part (``cert`` for verification)
    side_files: tuple[bytes, ...] = ()


@dataclass(frozen=True)
class Form:
    """A multipart form: the one file part (when sent) and the small text fields."""

    file: bytes | None
    filename: str | None
    fields: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class _Received:
    files: list[FilePart]
    fields: dict[str, str]
    side_files: tuple[bytes, ...] = ()

    def discard(self) -> None:
        for file in self.files:
            file.spool.discard()


class Intake:
    """Where this process's uploads arrive: the spool directory, the size limit, the caps in progress.

    Used from the event loop only, so the counters need no lock. Each uvicorn worker has its own.
    """

    def __init__(self, directory: Path, max_bytes: int, per_client: int, total: int) -> None:
        self.directory = directory
        self.max_bytes = max_bytes
        self.per_client = per_client
        self.total = total
        self._active: Counter[str] = Counter()

    @classmethod
    def from_settings(cls, settings: Settings) -> Intake:
        return cls(
            spool_directory(settings.upload_dir),
            settings.max_upload_bytes,
            settings.uploads_per_client,
            settings.max_uploads,
        )

    def close(self) -> None:
        remove_spool_directory(self.directory)

    @asynccontextmanager
    async def document(
        self,
        request: Request,
        caller: Principal | None,
        side_part: str | None = None,
        digest: bool = True,
    ) -> AsyncIterator[Upload]:
        """The PDF of ``request``, complete on disk for the block; its file is deleted when the block ends.

        ``side_part`` names the multipart parts of a few small files beside it (``api.formdata``);
        ``digest=False`` spools it without SHA-256.
        """
        async with self.documents(request, caller, 1, self.max_bytes, side_part, digest) as [upload]:
            yield upload

    @asynccontextmanager
    async def documents(
        self,
        request: Request,
        caller: Principal | None,
        max_files: int,
        max_total: int,
        side_part: str | None = None,
        digest: bool = True,
    ) -> AsyncIterator[list[Upload]]:
        """The 1 to ``max_files`` documents of ``request`` (repeated ``file`` parts), each at most the
        upload limit and ``max_total`` bytes together, on disk for the block (deleted when it ends).
        Each :class:`Upload` carries the form's fields and side files; ``digest=False`` spools them
        without SHA-256."""
        received = await self._receive(
            request, caller, "file", self.max_bytes, max_files, max_total, side_part, digest
        )
        try:
            if not received.files:
                detail = "the PDF goes in the multipart part 'file'"
                raise EsignError(
                    ErrorCode.MALFORMED_REQUEST, detail=detail, detail_zh="PDF 文件应放在名为“file”的部分中"
                )
            yield [
                Upload(
                    file.spool.path,
                    file.spool.size,
                    file.sha256,
                    file.filename,
                    received.fields,
                    received.side_files,
                )
                for file in received.files
            ]
        finally:
            received.discard()

    async def form(self, request: Request, caller: Principal | None, part: str, limit: int) -> Form:
        """A ``multipart/form-data`` body whose (optional) file part ``part`` holds up to ``limit`` bytes."""
        received = await self._receive(request, caller, part, limit)
        try:
            data, filename = None, None
            if received.files:
                filename = received.files[0].filename
                data = await asyncio.to_thread(received.files[0].spool.path.read_bytes)
            return Form(file=data, filename=filename, fields=received.fields)
        finally:
            received.discard()

    async def _receive(
        self,
        request: Request,
        caller: Principal | None,
        part: str,
        limit: int,
        max_files: int = 1,
        max_total: int | None = None,
        side_part: str | None = None,
        digest: bool = True,
    ) -> _Received:
        """The body on disk; on any refusal nothing of it is left there."""
        with self._in_progress(_client_of(request, caller)):
            try:
                return await self._spool_body(
                    request, part, limit, max_files, max_total or limit, side_part, digest
                )
            except ClientDisconnect:
                detail = "the client disconnected before the body was complete"
                raise EsignError(
                    ErrorCode.MALFORMED_REQUEST, detail=detail, detail_zh="请求内容未传完，连接已断开"
                ) from None

    async def _spool_body(
        self,
        request: Request,
        part: str,
        limit: int,
        max_files: int,
        max_total: int,
        side_part: str | None,
        digest: bool,
    ) -> _Received:
        content_type = request.headers.get("content-type", "")
        media_type = content_type.split(";")[0].strip().lower()
        declared = request.headers.get("content-length")
        if media_type == "multipart/form-data":
            cap = max_total + _MULTIPART_OVERHEAD + (max_files - 1) * _PART_OVERHEAD
            if side_part is not None:
                cap += MAX_SIDE_FILES * (MAX_SIDE_BYTES + _PART_OVERHEAD)
            _refuse_declared(declared, cap, max_total)
            body = _limited(request, cap, max_total)
            files, fields, side_files = await parse_form(
                content_type,
                body,
                part,
                lambda: Spool(self.directory, limit, digest),
                max_files,
                max_total,
                side_part,
            )
            return _Received(files, fields, tuple(side_files))
        if media_type in RAW_TYPES:
            _refuse_declared(declared, limit, limit)
            spool = Spool(self.directory, limit, digest)
            try:
                async for chunk in request.stream():
                    spool.add(chunk)
                    await spool.drain()
                name = request.query_params.get("filename", "document.pdf")
                return _Received([FilePart(name, spool, await spool.finish())], {})
            except BaseException:
                spool.discard()
                raise
        raise EsignError(ErrorCode.NOT_A_PDF)

    @contextmanager
    def _in_progress(self, client: str) -> Iterator[None]:
        """One upload in progress for ``client``: the client's cap is checked first (429 is its own doing)."""
        if self._active[client] >= self.per_client:
            raise EsignError(ErrorCode.TOO_MANY_UPLOADS, limit=self.per_client, retry_after=RETRY_AFTER_S)
        if self._active.total() >= self.total:
            raise EsignError(ErrorCode.OVERLOADED)
        self._active[client] += 1
        try:
            yield
        finally:
            self._active[client] -= 1
            if not self._active[client]:
                del self._active[client]


async def get_intake(request: Request) -> Intake:
    """Built by the app's lifespan (``api.app``); ``async`` so that FastAPI calls it on the loop."""
    return request.app.state.intake


IntakeDep = Annotated[Intake, Depends(get_intake)]


def _client_of(request: Request, caller: Principal | None) -> str:
    if caller is not None:
        return f"client:{caller.name}"
    return f"ip:{request.client.host if request.client else 'unknown'}"


def _refuse_declared(
    declared: str | None, cap: int, limit: int, code: ErrorCode = ErrorCode.PDF_TOO_LARGE
) -> None:
    if declared is not None and declared.isdigit() and int(declared) > cap:
        raise EsignError(code, limit=limit)


async def _limited(
    request: Request, cap: int, limit: int, code: ErrorCode = ErrorCode.PDF_TOO_LARGE
) -> AsyncIterator[bytes]:
    seen = 0
    async for chunk in request.stream():
        seen += len(chunk)
        if seen > cap:
            raise EsignError(code, limit=limit)
        yield chunk


async def read_json(request: Request, limit: int) -> bytes:
    """A small JSON body, read whole only after its size is known to be under ``limit``: a larger one is
    413 ``REQUEST_TOO_LARGE`` (no document was sent, so "the file is too large" would mislead)."""
    too_large = ErrorCode.REQUEST_TOO_LARGE
    _refuse_declared(request.headers.get("content-length"), limit, limit, too_large)
    with SpooledTemporaryFile(max_size=_SPOOL_BYTES) as spool:
        async for chunk in _limited(request, limit, limit, too_large):
            spool.write(chunk)
        spool.seek(0)
        return spool.read()
