"""The request envelope: request id, access log line, metrics, and the last line of defence.

Plain ASGI middlewares (not ``BaseHTTPMiddleware``) so that streamed uploads pass through
untouched. An exception that escapes every handler is logged here with its request id and
answered as an ``INTERNAL_ERROR`` problem; the client never sees a traceback. :class:`BodyDeadline`
bounds how long a request body may take to arrive, and how slowly.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
import uuid
from typing import Any

from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.metrics import REQUEST_SECONDS, REQUESTS
from api.problems import problem_response
from esign.errors import ErrorCode, EsignError

__all__ = ["BodyDeadline", "RequestEnvelope"]

_log = logging.getLogger("esign.api")
_GOOD_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")


class RequestEnvelope:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = _request_id(scope)
        scope.setdefault("state", {})["request_id"] = request_id
        started = time.perf_counter()
        status = 500
        response_started = False

        async def send_with_id(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                status, response_started = message["status"], True
                message.setdefault("headers", []).append((b"x-request-id", request_id.encode()))
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception as exc:
            _log.error("unexpected %s", type(exc).__name__, exc_info=exc, extra={"request_id": request_id})
            if not response_started:
                error = EsignError(ErrorCode.INTERNAL_ERROR, request_id=request_id)
                await problem_response(error, Request(scope))(scope, receive, send_with_id)
        finally:
            _account(scope, status, time.perf_counter() - started, request_id)


class BodyDeadline:
    """A request body must keep arriving at a minimum rate and be complete in time, or the answer is 408.

    Without it a client that trickles its upload (a byte now and then, slowloris-style) holds a
    connection and a half-written spool for as long as it likes. A total timeout alone is not
    enough: twenty such bodies of one client would each be allowed the full ``seconds``. So the
    next chunk is due by ``start + grace_s + received / min_rate``, capped at ``start + seconds``:
    after the grace period the body must have averaged ``min_rate`` bytes per second, however it
    is spread. The deadline covers only the body: once it is complete, waiting for the client's
    disconnect is not limited.
    """

    def __init__(self, app: ASGIApp, seconds: float, grace_s: float, min_rate: int) -> None:
        self.app = app
        self.seconds = seconds
        self.grace_s = grace_s
        self.min_rate = min_rate

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = asyncio.get_running_loop().time()
        received = 0
        body_done = False

        async def receive_in_time() -> Message:
            nonlocal body_done, received
            if body_done:
                return await receive()
            allowed = min(self.seconds, self.grace_s + received / self.min_rate)
            try:
                async with asyncio.timeout_at(started + allowed):
                    message = await receive()
            except TimeoutError:
                raise self._too_slow() from None
            received += len(message.get("body", b""))
            body_done = message["type"] != "http.request" or not message.get("more_body", False)
            return message

        await self.app(scope, receive_in_time, send)

    def _too_slow(self) -> EsignError:
        seconds, grace = f"{self.seconds:g}", f"{self.grace_s:g}"
        return EsignError(ErrorCode.UPLOAD_TIMEOUT, seconds=seconds, grace=grace, rate=self.min_rate)


def _request_id(scope: Scope) -> str:
    """The caller's X-Request-Id when it is a sane token (so ids correlate across systems), else a new one."""
    for name, value in scope.get("headers", []):
        if name == b"x-request-id":
            candidate = value.decode("latin-1")
            if _GOOD_ID.fullmatch(candidate):
                return candidate
    return uuid.uuid4().hex


def _mounted(scope: Scope) -> str | None:
    """The static files' route: a mounted app leaves no ``route`` in the scope this middleware sees."""
    return "/static/{path}" if scope.get("path", "").startswith("/static/") else None


def _account(scope: Scope, status: int, seconds: float, request_id: str) -> None:
    route = getattr(scope.get("route"), "path", None) or _mounted(scope) or "unmatched"
    method = scope["method"]
    REQUESTS.labels(method, route, str(status)).inc()
    REQUEST_SECONDS.labels(method, route).observe(seconds)
    state: dict[str, Any] = scope.get("state", {})
    _log.info(
        "request",
        extra={
            "request_id": request_id,
            "method": method,
            "route": route,
            "status": status,
            "ms": round(seconds * 1000, 1),
            "client": state.get("client_name"),
            "document_sha256": state.get("document_sha256"),
            "document_bytes": state.get("document_bytes"),
        },
    )
