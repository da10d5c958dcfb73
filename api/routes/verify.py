"""``POST /v1/verify``: the intake systems' door — the same report as ``esign verify``, over HTTP."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Header, Query, Request, Response
from starlette.concurrency import run_in_threadpool

from api.deps import MaybeCaller, RuntimeDep
from api.formdata import MAX_SIDE_BYTES, MAX_SIDE_FILES
from api.jobs import verify_document
from api.metrics import VERIFICATIONS
from api.problems import problems
from api.spool import file_sha256
from api.uploads import IntakeDep
from esign.policy import parse_certificates
from keystore.authz import Principal, require_verifier

router = APIRouter(prefix="/v1", tags=["verify"])

Format = Literal["json", "xml", "text"]
_MEDIA = {"json": "application/json", "xml": "application/xml", "text": "text/plain; charset=utf-8"}
_MAX_NAME = 200

PDF_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "description": "The PDF as the multipart part `file` (with optional `cert` parts), or as the raw "
        "body (`application/pdf`).",
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {
                        "file": {"type": "string", "format": "binary"},
                        "cert": {
                            "type": "array",
                            "items": {"type": "string", "format": "binary"},
                            "maxItems": MAX_SIDE_FILES,
                            "description": "Untrusted intermediate certificates (PEM or DER, "
                            f"≤ {MAX_SIDE_BYTES // 1024} KiB each) offered for path building, "
                            "like `esign verify --cert`; they must still chain to a trust anchor.",
                        },
                    },
                }
            },
            "application/pdf": {"schema": {"type": "string", "format": "binary"}},
        },
    }
}

_REPORT_EXAMPLE = {
    "schema_version": 1,
    "document": {"name": "licence.pdf", "sha256": "9f2c…", "size": 48213, "pages": 1, "revisions": 2},
    "policy": "default",
    "validation_time": "2026-11-25T10:00:00+00:00",
    "indication": "TOTAL_PASSED",
    "signatures": [{"index": 0, "field": "Seal1", "indication": "TOTAL_PASSED", "subindication": None}],
    "findings": [],
}


def _chosen_format(fmt: Format | None, accept: str | None) -> Format:
    """``format=`` wins; otherwise ``Accept: application/xml`` or ``text/plain`` pick the renderer."""
    if fmt is not None:
        return fmt
    accept = (accept or "").lower()
    if "application/xml" in accept or "text/xml" in accept:
        return "xml"
    if "text/plain" in accept:
        return "text"
    return "json"


@router.post(
    "/verify",
    summary="Verify every signature and document timestamp in a PDF",
    openapi_extra=PDF_BODY,
    responses={
        200: {
            "description": "The verification report (EN 319 102-1 indications, art. 13 verdicts, findings).",
            "content": {
                "application/json": {"schema": {"type": "object"}, "example": _REPORT_EXAMPLE},
                "application/xml": {"schema": {"type": "string"}},
                "text/plain": {"schema": {"type": "string"}},
            },
        },
        **problems(400, 401, 403, 408, 413, 415),
    },
)
async def verify_pdf(
    request: Request,
    runtime: RuntimeDep,
    caller: MaybeCaller,
    intake: IntakeDep,
    fmt: Annotated[Format | None, Query(alias="format", description="Report format.")] = None,
    lang: Annotated[Literal["zh", "en"], Query(description="Language of the text report.")] = "zh",
    policy: Annotated[
        Literal["default", "online", "strict"] | None, Query(description="Validation policy preset.")
    ] = None,
    accept: Annotated[str | None, Header(include_in_schema=False)] = None,
) -> Response:
    if caller is not None:
        require_verifier(caller)
    chosen = _chosen_format(fmt, accept)
    # the body first, then a worker: a slow upload holds its client's upload place, not a worker's.
    # No digest on the way in: the worker's report has it (one SHA-256 of the document, not two)
    async with intake.document(request, caller, side_part="cert", digest=False) as upload:
        request.state.document_bytes = upload.size
        offered = _offered_certs(upload.side_files)
        try:
            async with runtime.verify_pool.admitted() as run_job:
                outcome = await run_job(
                    verify_document,
                    str(upload.path),
                    policy or runtime.settings.default_policy,
                    upload.filename[:_MAX_NAME],
                    chosen,
                    lang,
                    offered,
                )
        except Exception:  # no worker answered (pool full, worker gone): the log's digest from the file
            request.state.document_sha256 = await asyncio.to_thread(file_sha256, upload.path)
            raise
    request.state.document_sha256 = outcome.sha256
    outcome.raise_error()
    indication = outcome.indication
    VERIFICATIONS.labels(indication).inc()
    await _record(runtime, caller, outcome.sha256, indication, request.state.request_id)
    headers = {"X-Esign-Indication": indication, "Server-Timing": f"verify;dur={outcome.worker_ms:.1f}"}
    return Response(outcome.body, media_type=_MEDIA[chosen], headers=headers)


def _offered_certs(parts: tuple[bytes, ...]) -> tuple[bytes, ...]:
    """The ``cert`` parts as DER certificates, each parsed in full here: an unreadable one is a 400
    ``CERTIFICATE_UNREADABLE`` naming it, before any worker is involved."""
    return tuple(
        cert.dump()
        for number, part in enumerate(parts, 1)
        for cert in parse_certificates(part, f"cert #{number}")
    )


async def _record(
    runtime: RuntimeDep, caller: Principal | None, digest: str, indication: str, request_id: str
) -> None:
    if caller is not None and runtime.service.settings.log_verifications:
        await run_in_threadpool(runtime.service.record_verification, caller, digest, indication, request_id)
