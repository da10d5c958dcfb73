"""Batch sealing over HTTP: ``POST /v1/seals/{code}/batches``, ``GET /v1/batches/{id}`` and its results.

The upload (a zip of PDFs, one PDF, or many PDFs as repeated multipart parts ``file``, with the
same option fields as ``/apply``) is stored whole in the database before the answer, so it
survives any node or worker; the jobs then run on the configured queue (``api.batch_jobs``). A
batch is visible to the client that sent it, to its organisation's seal-admins and auditors, and
to nobody else (404).
"""

from __future__ import annotations

import asyncio
import csv
import io
import os
import tempfile
import zipfile
from pathlib import Path as FilePath
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request, Response
from fastapi.responses import FileResponse
from pydantic import BaseModel, Field
from starlette.background import BackgroundTask

from api.batch_jobs import BatchQueue
from api.deps import Caller, RuntimeDep
from api.problems import problems
from api.routes.seals import SealCode
from api.seal_options import ApplyOptions, parse_apply_options
from api.uploads import IntakeDep, Upload
from esign.errors import ErrorCode, EsignError
from keystore import jobs
from keystore.authz import Principal, Role
from keystore.db import Database

router = APIRouter(tags=["batches"])

BatchId = Annotated[str, Path(min_length=32, max_length=32, pattern=r"^[0-9a-f]{32}$")]


class Failure(BaseModel):
    name: str
    sha256: str
    code: str = Field(examples=["NOT_A_PDF"])
    detail: str


class BatchOut(BaseModel):
    id: str
    seal_code: str
    state: str = Field(description="queued · running · done", examples=["running"])
    total: int = Field(description="distinct documents (the same bytes twice are sealed once)")
    pending: int
    done: int = Field(description="sealed")
    failed: int
    failures: list[Failure]


async def get_batches(request: Request) -> BatchQueue:
    return request.app.state.batches


def _out(status: jobs.BatchStatus) -> BatchOut:
    return BatchOut(
        id=status.id,
        seal_code=status.seal_code,
        state=status.state,
        total=status.total,
        pending=status.pending,
        done=status.sealed,
        failed=status.failed,
        failures=[
            Failure(name=f.name, sha256=f.sha256, code=f.error_code or "", detail=f.error or "")
            for f in status.failures
        ],
    )


def _batch_body() -> dict[str, Any]:
    options = ApplyOptions.inline_json_schema()
    archive = {"type": "string", "format": "binary", "description": "A zip of PDFs, or a PDF."}
    files = {
        "description": "One part: a zip of PDFs, or one PDF. Repeated parts: one PDF each.",
        "oneOf": [archive, {"type": "array", "items": archive}],
    }
    return {
        "requestBody": {
            "required": True,
            "description": "Multipart: a zip of PDFs, or one or more PDFs, in `file` (the part may be "
            "repeated), the `/apply` options as fields.",
            "content": {
                "multipart/form-data": {
                    "schema": {
                        "type": "object",
                        "required": ["file"],
                        "properties": {"file": files, **options["properties"]},
                    }
                }
            },
        }
    }


@router.post(
    "/v1/seals/{code}/batches",
    status_code=202,
    summary="Seal many PDFs as one batch of jobs (sealer with a grant)",
    openapi_extra=_batch_body(),
    responses=problems(400, 401, 403, 404, 408, 409, 413, 415, 422, 503),
)
async def submit(
    request: Request,
    response: Response,
    runtime: RuntimeDep,
    caller: Caller,
    intake: IntakeDep,
    batches: Annotated[BatchQueue, Depends(get_batches)],
    code: SealCode,
) -> BatchOut:
    settings = runtime.settings
    limits = (settings.batch_max_documents, settings.max_upload_bytes, settings.batch_max_bytes)
    async with intake.documents(
        request, caller, settings.batch_max_documents, settings.batch_max_bytes
    ) as uploads:
        fields = uploads[0].fields
        parse_apply_options(fields)  # a bad option is a 422 now, not a failure per document
        documents = await asyncio.to_thread(unpack, uploads, *limits)
    batch_id, digests = await asyncio.to_thread(
        jobs.create_batch, runtime.db, caller, code, fields, documents
    )
    try:
        await asyncio.to_thread(batches.submit, batch_id, digests)
    except EsignError:
        await asyncio.to_thread(jobs.discard, runtime.db, batch_id)
        raise
    response.headers["Location"] = f"/v1/batches/{batch_id}"
    return _out(await asyncio.to_thread(jobs.status, runtime.db, batch_id))


def unpack(
    uploads: list[Upload], max_documents: int, max_bytes: int, max_total: int
) -> list[jobs.NewDocument]:
    """The documents of a batch upload.

    Several parts are one document each, taken as sent: the intake already held them to the
    limits while they streamed, and a part that is no PDF fails as its own document (``NOT_A_PDF``,
    like a broken ``.pdf`` member of a zip) rather than refusing the PDFs beside it. One part is a
    PDF, or a zip whose ``.pdf`` members are read with the limits here.
    """
    if len(uploads) > 1:
        return [jobs.NewDocument(_name(upload.filename), upload.path.read_bytes()) for upload in uploads]
    [upload] = uploads
    with upload.path.open("rb") as head:
        if head.read(5) == b"%PDF-":
            return [jobs.NewDocument(_name(upload.filename), upload.path.read_bytes())]
    return _unzip(upload.path, max_documents, max_bytes, max_total)


def _name(filename: str) -> str:
    return os.path.basename(filename) or "document.pdf"


def _unzip(path: FilePath, max_documents: int, max_bytes: int, max_total: int) -> list[jobs.NewDocument]:
    """The PDFs of a zip: each at most ``max_bytes`` unpacked, all together at most ``max_total``
    (a zip bomb stops at the limit, it is never inflated whole)."""
    try:
        archive = zipfile.ZipFile(path)
    except zipfile.BadZipFile:
        raise EsignError(ErrorCode.BATCH_INVALID, detail="neither a zip archive nor a PDF") from None
    with archive:
        entries = [info for info in archive.infolist() if _is_document(info)]
        if not entries:
            raise EsignError(ErrorCode.BATCH_INVALID, detail="the archive holds no .pdf file")
        if len(entries) > max_documents:
            raise EsignError(ErrorCode.TOO_MANY_DOCUMENTS, limit=max_documents)
        documents, left = [], max_total
        for info in entries:
            documents.append(_entry(archive, info, min(max_bytes, left)))
            left -= len(documents[-1].pdf)
        return documents


def _is_document(info: zipfile.ZipInfo) -> bool:
    return not info.is_dir() and info.filename.lower().endswith(".pdf") and "__MACOSX/" not in info.filename


def _entry(archive: zipfile.ZipFile, info: zipfile.ZipInfo, max_bytes: int) -> jobs.NewDocument:
    """One member, read no further than the limit (the declared size of a zip entry can lie)."""
    try:
        with archive.open(info) as member:
            data = member.read(max_bytes + 1)
    except (zipfile.BadZipFile, NotImplementedError, RuntimeError) as exc:
        raise EsignError(ErrorCode.BATCH_INVALID, detail=f"{info.filename}: {exc}") from None
    if len(data) > max_bytes:
        raise EsignError(ErrorCode.PDF_TOO_LARGE, limit=max_bytes)
    return jobs.NewDocument(os.path.basename(info.filename), data)


#: what a spreadsheet reads as the start of a formula (OWASP, "CSV injection")
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _cell(text: str) -> str:
    """``text`` as a spreadsheet shows it, never runs it: a file name is the sender's to choose, and
    ``=HYPERLINK(…)`` opened by an auditor in Excel or WPS would be a formula; a leading apostrophe
    makes it text (OWASP's advice)."""
    return f"'{text}" if text.startswith(_FORMULA_START) else text


def _row(outcome: jobs.Outcome, member: str) -> list[object]:
    """One line of outcomes.csv. The name and the error detail (which may quote the document) are
    the sender's text; the member starts with ``sealed/``, the other cells are the service's own."""
    return [
        outcome.position, _cell(outcome.name), outcome.sha256, outcome.state, outcome.audit_seq or "",
        outcome.error_code or "", _cell(outcome.error or ""), member,
    ]  # fmt: skip


def _visible(db: Database, caller: Principal, batch_id: str) -> jobs.BatchStatus:
    """The batch, if ``caller`` may see it: its client, or a seal-admin or auditor of its organisation."""
    status = jobs.status(db, batch_id)
    watcher = caller.uscc == status.uscc and _is_watcher(caller)
    if not (caller.is_operator or caller.name == status.client or watcher):
        raise EsignError(ErrorCode.BATCH_NOT_FOUND, batch=batch_id)
    return status


def _is_watcher(caller: Principal) -> bool:
    """Seal-admins and auditors follow every batch of their organisation, not only their own."""
    return bool({Role.SEAL_ADMIN, Role.AUDITOR} & caller.roles)


@router.get("/v1/batches", summary="The newest 50 batches the caller may see", responses=problems(401))
def list_all(runtime: RuntimeDep, caller: Caller) -> list[BatchOut]:
    if caller.is_operator:
        found = jobs.list_batches(runtime.db, None, None)
    elif _is_watcher(caller):
        found = jobs.list_batches(runtime.db, None, caller.uscc)
    else:
        found = jobs.list_batches(runtime.db, caller.name, None)
    return [_out(status) for status in found]


@router.get("/v1/batches/{batch_id}", summary="A batch's progress and failures", responses=problems(401, 404))
def show(runtime: RuntimeDep, caller: Caller, batch_id: BatchId) -> BatchOut:
    return _out(_visible(runtime.db, caller, batch_id))


@router.get(
    "/v1/batches/{batch_id}/results",
    summary="The sealed documents so far and outcomes.csv, as one zip",
    response_class=FileResponse,
    responses={200: {"content": {"application/zip": {}}}, **problems(401, 404)},
)
def results(runtime: RuntimeDep, caller: Caller, batch_id: BatchId) -> FileResponse:
    _visible(runtime.db, caller, batch_id)
    fd, name = tempfile.mkstemp(prefix="esign-batch-", suffix=".zip")
    try:
        with os.fdopen(fd, "wb") as out, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
            table = io.StringIO()
            rows = csv.writer(table)
            rows.writerow(["position", "name", "sha256", "state", "audit_seq", "error_code", "error", "file"])
            for outcome, sealed in jobs.outcomes(runtime.db, batch_id):
                member = f"sealed/{outcome.position:05d}-{outcome.name}" if sealed else ""
                if sealed:
                    archive.writestr(member, sealed)
                rows.writerow(_row(outcome, member))
            archive.writestr("outcomes.csv", table.getvalue())
    except BaseException:
        os.unlink(name)
        raise
    return FileResponse(
        name,
        media_type="application/zip",
        filename=f"batch-{batch_id}.zip",
        background=BackgroundTask(os.unlink, name),
    )
