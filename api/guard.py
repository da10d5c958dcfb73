"""Authenticate before any body is read, and cap the JSON bodies FastAPI parses itself.

FastAPI reads and parses a route's whole request body before it runs the route's dependencies, so
without this a caller without any key could make the service read and parse hundreds of megabytes
of JSON before being told 401. :class:`AuthenticatedRoute` (the route class of every router whose
routes take a JSON model body) does two things before FastAPI touches the body:

* it runs the route's caller dependency (:func:`api.deps.require_caller` or ``optional_caller``):
  a missing, unknown or rate-limited key is refused at once, and the route's own dependency later
  gets the same, already identified caller (one rate-limit charge per request);
* for a route whose body FastAPI parses (a pydantic model body), it refuses a declared
  ``Content-Length`` over :data:`JSON_BODY_LIMIT` without reading the body, counts a chunked body
  while it streams, refuses a body that is not UTF-8 (RFC 8259; FastAPI would answer an
  undocumented 400 in English) and hands the route the (small) body it read.

Routes that read their own bodies (uploads: ``api.uploads``) are not parsed by FastAPI, so their
dependencies already run first; they enforce their own limits. A refusal sent before the body was
read closes the connection (``api.problems.refusal_response``), so the rest is not read either.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Message, Receive, Scope

from api.deps import bearer, get_runtime, optional_caller, require_caller
from api.problems import refusal_response
from esign.errors import ErrorCode, EsignError

__all__ = ["JSON_BODY_LIMIT", "AuthenticatedRoute"]

#: every JSON request of the API is a few hundred bytes; this leaves ample room and no more
JSON_BODY_LIMIT = 64 * 1024
_CALLER_CHECKS = (require_caller, optional_caller)
Handler = Callable[[Request], Coroutine[Any, Any, Response]]


class AuthenticatedRoute(APIRoute):
    def get_route_handler(self) -> Handler:
        handler = super().get_route_handler()
        checks = _caller_checks(self.dependant)
        capped = self.body_field is not None

        async def authenticated_first(request: Request) -> Response:
            try:
                for check in checks:
                    await check(request, await get_runtime(request), await bearer(request))
                if capped:
                    request = Request(request.scope, await _read_capped(request.scope, request.receive))
            except EsignError as exc:
                return refusal_response(request, exc)
            return await handler(request)

        return authenticated_first


def _caller_checks(root: Dependant) -> tuple[Callable[..., Any], ...]:
    calls: set[object] = set()
    pending = [root]
    while pending:
        dependant = pending.pop()
        calls.add(dependant.call)
        pending.extend(dependant.dependencies)
    return tuple(check for check in _CALLER_CHECKS if check in calls)


async def _read_capped(scope: Scope, receive: Receive, limit: int = JSON_BODY_LIMIT) -> Receive:
    """Read the body (at most ``limit`` bytes) and return a ``receive`` that replays it to the route."""
    declared = dict(scope["headers"]).get(b"content-length", b"")
    if declared.isdigit() and int(declared) > limit:
        raise EsignError(ErrorCode.REQUEST_TOO_LARGE, limit=limit)
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            first: Message = message  # the client went away: the route sees the disconnect
            break
        chunks.append(message.get("body", b""))
        size += len(chunks[-1])
        if size > limit:
            raise EsignError(ErrorCode.REQUEST_TOO_LARGE, limit=limit)
        if not message.get("more_body", False):
            first = {"type": "http.request", "body": _utf8(b"".join(chunks)), "more_body": False}
            break
    replayed = False

    async def replay() -> Message:
        nonlocal replayed
        if replayed:
            return await receive()
        replayed = True
        return first

    return replay


def _utf8(body: bytes) -> bytes:
    try:
        body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise EsignError(ErrorCode.REQUEST_INVALID, detail=f"body: not UTF-8 at byte {exc.start}") from None
    return body
