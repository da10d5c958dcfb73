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
    "describe_validation_zh",
    "install_problem_handlers",
    "problem_body",
    "problem_response",
    "problems",
    "refusal_response",
    "request_invalid",
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


#: where a parameter came from, as a clerk's integrator reads it
_PLACES_ZH = {
    "query": "查询参数",
    "body": "请求体字段",
    "path": "路径参数",
    "header": "请求头",
    "form": "表单字段",
}
#: pydantic error types in Chinese; ``{…}`` come from the error's ``ctx``
_TYPES_ZH = {
    "missing": "缺少此项",
    "literal_error": "取值应为 {expected}",
    "enum": "取值应为 {expected}",
    "int_parsing": "应为整数",
    "int_type": "应为整数",
    "float_parsing": "应为数字",
    "float_type": "应为数字",
    "bool_parsing": "应为 true 或 false",
    "string_type": "应为文本",
    "string_too_short": "长度应不少于 {min_length} 个字符",
    "string_too_long": "长度应不超过 {max_length} 个字符",
    "string_pattern_mismatch": "格式不符合要求（{pattern}）",
    "greater_than": "应大于 {gt}",
    "greater_than_equal": "应不小于 {ge}",
    "less_than": "应小于 {lt}",
    "less_than_equal": "应不大于 {le}",
    "extra_forbidden": "不允许此项",
    "json_invalid": "不是有效的 JSON",
    "model_attributes_type": "应为对象",
    "dict_type": "应为对象",
    "list_type": "应为列表",
    "datetime_parsing": "应为带时区的 ISO 8601 时间",
    "datetime_from_date_parsing": "应为带时区的 ISO 8601 时间",
    "uuid_parsing": "应为 UUID",
}


def describe_validation_zh(errors: Sequence[Any]) -> str:
    """The same errors in Chinese: ``查询参数 format：取值应为 'json'、'text' 或 'xml'``."""
    return "；".join(_one_zh(e) for e in errors[:5])


def _one_zh(error: Any) -> str:
    loc = [str(part) for part in error.get("loc", ())]
    place = _PLACES_ZH.get(loc[0], "") if loc else ""
    name = ".".join(loc[1:] if place else loc) or "请求"
    template = _TYPES_ZH.get(error.get("type", ""), "取值无效")
    ctx = {key: str(value).replace(" or ", " 或 ") for key, value in (error.get("ctx") or {}).items()}
    try:
        text = template.format(**ctx)
    except (KeyError, IndexError):
        text = "取值无效"
    return f"{place} {name}：{text}" if place else f"{name}：{text}"


def request_invalid(errors: Sequence[Any]) -> EsignError:
    """``REQUEST_INVALID`` for pydantic errors, with the Chinese wording beside the English one."""
    return EsignError(
        ErrorCode.REQUEST_INVALID,
        detail=describe_validation(errors),
        detail_zh=describe_validation_zh(errors),
    )


def _from_validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
    return problem_response(request_invalid(exc.errors()), request)


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
