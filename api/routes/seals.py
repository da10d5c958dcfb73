"""The seal registry over HTTP, and ``POST /v1/seals/{code}/apply`` — sealing for agencies.

Every rule (roles, the organisation boundary, grants, lifecycle) is the keystore's: these routes
translate HTTP to ``keystore.registry`` / ``keystore.service`` calls and back. Database-only routes
are plain ``def`` (FastAPI runs them in its thread pool); anything that signs or renders goes
through the bounded seal pool.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime
from pathlib import Path as FilePath
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Header, Path, Request, Response
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, Field, ValidationError
from starlette.concurrency import run_in_threadpool

from api.deps import Caller, Runtime, RuntimeDep
from api.guard import AuthenticatedRoute
from api.metrics import SEALS_APPLIED
from api.problems import problems
from api.seal_options import ApplyOptions, parse_apply_options
from api.uploads import Intake, IntakeDep, read_json
from esign.errors import ErrorCode, EsignError
from esign.gm.certs import is_sm2_certificate
from esign.seal.image.upload import MAX_PNG_BYTES, MAX_PNG_SIDE
from esign.seal.pades import SealOptions
from keystore.authz import Principal
from keystore.clients import find_client, grant_seal
from keystore.models import Seal
from keystore.registry import (
    SEAL_TYPES,
    SealSpec,
    appearance_for,
    effective_status,
    find_seal,
    list_seals,
    register_seal,
    resume_seal,
    revoke_seal,
    seal_appearance,
    seal_chain,
    suspend_seal,
)
from keystore.service import SealResult

router = APIRouter(prefix="/v1/seals", tags=["seals"], route_class=AuthenticatedRoute)

#: a seal's fields as JSON are a few hundred bytes
_MAX_JSON_BYTES = 64 * 1024

SealCode = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")]


class SealOut(BaseModel):
    code: str = Field(examples=["HZSJ-001"])
    seal_type: str = Field(examples=["01"])
    seal_type_name: str = Field(examples=["单位专用章"])
    org_name: str = Field(examples=["杭州市市场监督管理局"])
    uscc: str = Field(examples=["11330100MB1234567E"])
    key_name: str
    key_algorithm: Literal["SM2", "RSA", "EC"] = Field(
        description="The seal certificate's key: an SM2 seal makes a GB/T 38540 seal signature by default "
        "(`sm2_format`)",
        examples=["SM2"],
    )
    status: str = Field(description="active · suspended · revoked · expired · pending", examples=["active"])
    valid_from: datetime
    valid_to: datetime
    created_by: str
    updated_by: str


class SealIn(BaseModel):
    code: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
    seal_type: Literal["01", "02", "03", "04", "05", "99"] = "01"
    org_name: str = Field(min_length=1, max_length=200, examples=["杭州市市场监督管理局"])
    uscc: str = Field(min_length=18, max_length=18, examples=["11330100MB1234567E"])
    key_name: str = Field(
        min_length=1, max_length=128, description="A key the operator added to the keystore."
    )
    valid_from: datetime | None = None
    valid_to: datetime | None = None


class Reason(BaseModel):
    reason: str = Field(default="", max_length=500, examples=["印章遗失，暂停使用"])


class GrantIn(BaseModel):
    client: str = Field(
        min_length=1, max_length=128, description="Name of a sealer client of the same organisation."
    )


def seal_out(seal: Seal) -> SealOut:
    return SealOut(
        code=seal.code,
        seal_type=seal.seal_type,
        seal_type_name=SEAL_TYPES.get(seal.seal_type, "?"),
        org_name=seal.org_name,
        uscc=seal.uscc,
        key_name=seal.key_name,
        key_algorithm=_key_algorithm(seal),
        status=effective_status(seal),
        valid_from=seal.valid_from,
        valid_to=seal.valid_to,
        created_by=seal.created_by,
        updated_by=seal.updated_by,
    )


def _key_algorithm(seal: Seal) -> Literal["SM2", "RSA", "EC"]:
    cert = seal_chain(seal)[0]
    if is_sm2_certificate(cert):
        return "SM2"
    return "RSA" if cert.public_key.algorithm == "rsa" else "EC"


def _require_same_org(caller: Principal, seal: Seal) -> None:
    if not caller.is_operator and caller.uscc != seal.uscc:
        raise EsignError(
            ErrorCode.PERMISSION_DENIED,
            detail="the seal belongs to another organisation",
            detail_zh="该印章属于其他单位",
        )


@router.get("", summary="List the seals of the caller's organisation", responses=problems(401))
def list_all(runtime: RuntimeDep, caller: Caller) -> list[SealOut]:
    with runtime.db.transaction() as session:
        return [seal_out(s) for s in list_seals(session, None if caller.is_operator else caller.uscc)]


def _register_body() -> dict[str, Any]:
    fields = SealIn.model_json_schema()
    image = {"type": "string", "format": "binary", "description": "Optional seal picture (transparent PNG)."}
    return {
        "requestBody": {
            "required": True,
            "description": "The seal as JSON (picture drawn from the organisation name), or as multipart "
            f"fields with an uploaded PNG picture in `image` (at most {MAX_PNG_BYTES} bytes, "
            f"{MAX_PNG_SIDE}×{MAX_PNG_SIDE} pixels, with a transparent background).",
            "content": {
                "application/json": {"schema": fields},
                "multipart/form-data": {
                    "schema": {**fields, "properties": {**fields["properties"], "image": image}}
                },
            },
        }
    }


@router.post(
    "",
    status_code=201,
    summary="Register a seal (seal-admin), with a drawn or an uploaded PNG picture",
    openapi_extra=_register_body(),
    responses=problems(400, 401, 403, 404, 408, 409, 413, 415),
)
async def register(request: Request, runtime: RuntimeDep, caller: Caller, intake: IntakeDep) -> SealOut:
    body, picture = await _seal_request(request, intake, caller)
    spec = SealSpec(**body.model_dump())
    seal = await runtime.seal_pool.run(_register_blocking, runtime, caller, spec, picture)
    return seal_out(seal)


async def _seal_request(request: Request, intake: Intake, caller: Principal) -> tuple[SealIn, bytes | None]:
    """The seal's fields, from JSON or from multipart fields beside an optional ``image`` part."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type == "multipart/form-data":
        form = await intake.form(request, caller, "image", MAX_PNG_BYTES)
        return _validated(lambda: SealIn.model_validate(form.fields)), form.file
    if content_type == "application/json":
        raw = await read_json(request, _MAX_JSON_BYTES)
        return _validated(lambda: SealIn.model_validate_json(raw)), None
    raise EsignError(ErrorCode.UNSUPPORTED_MEDIA_TYPE, expected="application/json, multipart/form-data")


def _validated(parse: Callable[[], SealIn]) -> SealIn:
    try:
        return parse()
    except ValidationError as exc:
        raise RequestValidationError(exc.errors()) from None


def _register_blocking(runtime: Runtime, caller: Principal, spec: SealSpec, picture: bytes | None) -> Seal:
    """Drawing or decoding the picture and proving the key are CPU and key work: a pool thread, own loop."""
    appearance = appearance_for(spec, picture)
    maker = runtime.service.seal_maker  # an SM2 seal gets its GB/T 38540 SESeal now, once
    return asyncio.run(register_seal(runtime.db, runtime.keys, caller, spec, appearance, seal_maker=maker))


@router.get("/{code}", summary="Show one seal", responses=problems(401, 403, 404))
def show(runtime: RuntimeDep, caller: Caller, code: SealCode) -> SealOut:
    with runtime.db.transaction() as session:
        seal = find_seal(session, code)
        _require_same_org(caller, seal)
        return seal_out(seal)


@router.post(
    "/{code}/grants",
    summary="Let a sealer client use this seal (seal-admin)",
    responses=problems(401, 403, 404),
)
def grant(runtime: RuntimeDep, caller: Caller, code: SealCode, body: GrantIn) -> SealOut:
    with runtime.db.transaction() as session:
        seal = find_seal(session, code)
        find_client(session, body.client)
        grant_seal(session, caller, body.client, seal)
        return seal_out(seal)


@router.get(
    "/{code}/image.{fmt}",
    summary="The seal picture as PNG (transparent) or SVG",
    response_class=Response,
    responses={
        200: {
            "content": {
                "image/png": {"schema": {"type": "string", "format": "binary"}},
                "image/svg+xml": {"schema": {"type": "string"}},
            }
        },
        **problems(401, 403, 404),
    },
)
async def image(runtime: RuntimeDep, caller: Caller, code: SealCode, fmt: Literal["png", "svg"]) -> Response:
    body = await runtime.seal_pool.run(_render_blocking, runtime, caller, code, fmt)
    return Response(body, media_type="image/png" if fmt == "png" else "image/svg+xml")


def _render_blocking(runtime: Runtime, caller: Principal, code: str, fmt: str) -> bytes:
    with runtime.db.transaction() as session:
        seal = find_seal(session, code)
        _require_same_org(caller, seal)
        picture = seal_appearance(seal)
    return picture.png() if fmt == "png" else picture.svg()


def _apply_body() -> dict[str, Any]:
    options = ApplyOptions.inline_json_schema()
    properties = {"file": {"type": "string", "format": "binary"}, **options["properties"]}
    return {
        "requestBody": {
            "required": True,
            "description": "Multipart: the PDF in `file` and the options as fields; "
            "or a raw `application/pdf` body with the options as query parameters.",
            "content": {
                "multipart/form-data": {
                    "schema": {
                        "type": "object",
                        "required": ["file"],
                        "properties": properties,
                    }
                },
                "application/pdf": {"schema": {"type": "string", "format": "binary"}},
            },
        }
    }


@router.post(
    "/{code}/apply",
    summary="Seal a PDF with a registered seal (sealer with a grant)",
    openapi_extra=_apply_body(),
    response_class=Response,
    responses={
        200: {
            "description": "The sealed PDF; `X-Audit-Record` is the audit record's sequence number.",
            "content": {"application/pdf": {"schema": {"type": "string", "format": "binary"}}},
            "headers": {
                "X-Audit-Record": {"schema": {"type": "integer"}, "description": "audit record sequence"},
                "Idempotent-Replayed": {
                    "schema": {"type": "string", "enum": ["true"]},
                    "description": "the document sealed for an earlier request with this Idempotency-Key",
                },
            },
        },
        **problems(400, 401, 403, 404, 408, 409, 413, 415, 422),
    },
)
async def apply(
    request: Request,
    runtime: RuntimeDep,
    caller: Caller,
    intake: IntakeDep,
    code: SealCode,
    idempotency_key: Annotated[
        str | None,
        Header(
            max_length=200,
            description="Repeat a request under the same key to get the same sealed document again "
            "(for a day); the same key with another document, seal or options is refused (422).",
        ),
    ] = None,
) -> Response:
    # the body first, then a sealing thread: a slow upload holds its client's upload place only
    async with intake.document(request, caller) as upload:
        default_level = await run_in_threadpool(runtime.service.default_level, code)
        options = parse_apply_options(
            upload.fields if upload.fields else _query_options(request), default_level
        )
        request.state.document_bytes = upload.size
        async with runtime.seal_pool.admitted() as run_job:
            result: SealResult = await run_job(
                _apply_blocking,
                runtime,
                caller,
                code,
                upload.path,
                options,
                request.state.request_id,
                idempotency_key,
            )
    if not result.replayed:
        SEALS_APPLIED.labels(result.seal_code).inc()
    request.state.document_sha256 = result.sha256_before
    headers = {
        "X-Audit-Record": str(result.audit_seq),
        "X-Sealed-Sha256": result.sha256_after,
        "Content-Disposition": 'attachment; filename="sealed.pdf"',
    }
    if result.replayed:
        headers["Idempotent-Replayed"] = "true"
    return Response(result.pdf, media_type="application/pdf", headers=headers)


def _query_options(request: Request) -> dict[str, str]:
    return {key: value for key, value in request.query_params.items() if key != "filename"}


def _apply_blocking(
    runtime: Runtime,
    caller: Principal,
    code: str,
    path: FilePath,
    options: SealOptions,
    request_id: str,
    idempotency_key: str | None,
) -> SealResult:
    return runtime.service.apply(
        caller, code, path.read_bytes(), options, request_id=request_id, idempotency_key=idempotency_key
    )


# Last: the catch-all "/{code}/{action}" must not shadow /apply and /grants above.
_TRANSITIONS = {"suspend": suspend_seal, "resume": resume_seal, "revoke": revoke_seal}


@router.post(
    "/{code}/{action}",
    summary="Suspend, resume or revoke a seal (seal-admin)",
    responses=problems(401, 403, 404, 409),
)
def transition(
    runtime: RuntimeDep,
    caller: Caller,
    code: SealCode,
    action: Literal["suspend", "resume", "revoke"],
    body: Annotated[Reason | None, Body()] = None,
) -> SealOut:
    with runtime.db.transaction() as session:
        seal = _TRANSITIONS[action](session, caller, code, body.reason if body else "")
        return seal_out(seal)
