"""RFC 9457 problem details: every error the service returns, in one shape.

A problem carries the stable ``code`` from :class:`esign.errors.ErrorCode`, so intake systems branch
on the code and show ``detail_zh`` to clerks; ``title`` is the HTTP reason phrase, constant per
status as the RFC asks. Unexpected exceptions become ``INTERNAL_ERROR`` in ``api.middleware``.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from esign.errors import ErrorCode, EsignError

__all__ = [
    "PROBLEM_MEDIA_TYPE",
    "Problem",
    "describe_validation",
    "install_problem_handlers",
    "problem_body",
    "problem_response",
    "problems",
    "refusal_response",
]

PROBLEM_MEDIA_TYPE = "application/problem+json"
_log = logging.getLogger("esign.api")


class Problem(BaseModel):
    """The body of every error response (RFC 9457 plus esign's stable code and Chinese detail)."""

    type: str = Field(examples=["urn:esign:problem:NOT_A_PDF"])
    title: str = Field(examples=["Unsupported Media Type"])
    status: int = Field(examples=[415])
    code: str = Field(examples=["NOT_A_PDF"])
    detail: str = Field(examples=["The file is not a PDF."])
    detail_zh: str = Field(examples=["上传的文件不是 PDF 文件。"])
    instance: str | None = Field(default=None, examples=["/v1/verify"])
    request_id: str | None = Field(default=None, examples=["6f1c2b9e0d4a4f7e"])


def problem_body(
    error: EsignError, instance: str | None = None, request_id: str | None = None
) -> dict[str, Any]:
    """The problem document of ``error``; also what the HTTP protocol sends when it cannot parse a request."""
    status = error.code.http_status
    return Problem(
        type=f"urn:esign:problem:{error.code.name}",
        title=HTTPStatus(status).phrase,
        status=status,
        code=error.code.name,
        detail=error.message_en,
        detail_zh=error.message_zh,
        instance=instance,
        request_id=request_id,
    ).model_dump(exclude_none=True)


def problem_response(
    error: EsignError, request: Request | None = None, headers: dict[str, str] | None = None
) -> JSONResponse:
    body = problem_body(error, request.url.path if request is not None else None, _request_id(request))
    return JSONResponse(
        body, status_code=error.code.http_status, headers=headers, media_type=PROBLEM_MEDIA_TYPE
    )


def _request_id(request: Request | None) -> str | None:
    return getattr(request.state, "request_id", None) if request is not None else None


def problems(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` entries for the problems a route can return (schemathesis checks them)."""
    return {
        status: {
            "description": HTTPStatus(status).phrase,
            "content": {PROBLEM_MEDIA_TYPE: {"schema": Problem.model_json_schema()}},
        }
        for status in sorted({*statuses, 422, 429, 500, 503})
    }


def _from_http_exception(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    if exc.status_code == 404:
        error = EsignError(ErrorCode.RESOURCE_NOT_FOUND, path=request.url.path)
    elif exc.status_code == 405:
        error = EsignError(ErrorCode.METHOD_NOT_ALLOWED, method=request.method)
    elif exc.status_code == 413:
        error = EsignError(ErrorCode.PDF_TOO_LARGE, limit="?")
    else:
        error = EsignError(ErrorCode.MALFORMED_REQUEST, detail=str(exc.detail))
    return problem_response(error, request, dict(exc.headers or {}))


def describe_validation(errors: Sequence[Any]) -> str:
    """The first few pydantic errors as one line: ``query.format: Input should be 'json', …``."""
    return "; ".join(f"{'.'.join(map(str, e.get('loc', ())))}: {e.get('msg', 'invalid')}" for e in errors[:5])


def _from_validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
    return problem_response(
        EsignError(ErrorCode.REQUEST_INVALID, detail=describe_validation(exc.errors())), request
    )


#: refusals made before the request body is read (or while it is still arriving): the rest of the body
#: is not wanted, so the connection is closed instead of left for uvicorn to read the body and discard it
_BODY_LEFT_UNREAD = frozenset(
    {
        ErrorCode.API_KEY_MISSING,
        ErrorCode.UNAUTHENTICATED,
        ErrorCode.RATE_LIMITED,
        ErrorCode.REQUEST_TOO_LARGE,
        ErrorCode.PDF_TOO_LARGE,
        ErrorCode.UPLOAD_TIMEOUT,
    }
)


def refusal_response(request: Request, exc: EsignError) -> JSONResponse:
    """The answer to a refusal, with ``Retry-After`` when the error says when to come back."""
    headers = {}
    if "retry_after" in exc.params:
        headers["Retry-After"] = str(exc.params["retry_after"])
    if exc.code in _BODY_LEFT_UNREAD and _declares_body(request):
        headers["Connection"] = "close"
    if exc.code.http_status >= 500:
        _log.warning("refused %s: %s", exc.code.name, exc.message_en)
    return problem_response(exc, request, headers or None)


def _declares_body(request: Request) -> bool:
    return request.headers.get("content-length", "0") != "0" or "transfer-encoding" in request.headers


def install_problem_handlers(app: FastAPI) -> None:
    app.add_exception_handler(EsignError, refusal_response)  # type: ignore[arg-type]
    app.add_exception_handler(StarletteHTTPException, _from_http_exception)  # type: ignore[arg-type]
    app.add_exception_handler(RequestValidationError, _from_validation_error)  # type: ignore[arg-type]
