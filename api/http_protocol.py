"""uvicorn's httptools protocol with a deadline on request headers: the slow-header (slowloris) defence.

uvicorn times out idle keep-alive connections, but a client that sends a request line and then a
header byte now and then holds its connection open for ever, and enough of them exhaust the
server. This protocol closes a connection whose request headers are not complete within
``ESIGN_HEADER_TIMEOUT_S`` of the request's first byte (or of the connection, for the first
request). The body has its own deadline (``api.middleware.BodyDeadline``). ``esign serve`` runs
uvicorn with it; the callbacks used are httptools' parser callbacks, which uvicorn implements.

A request the parser cannot read (a broken request line, bad headers or chunk framing) never
reaches the application; uvicorn answers it with a plain-text 400. This protocol answers it with
the same ``application/problem+json`` body as every other error (code ``MALFORMED_REQUEST``).

It also hands a request body to the application as the chunks that arrived. uvicorn appends every
chunk to a ``bytearray`` and copies that into a new ``bytes`` for each ``http.request`` message:
two copies of every uploaded byte on the event loop, about 9 ms of a 10 MB upload's 18 ms. Here
the body waiting to be received is a :class:`_Chunks` (what uvicorn's ``cycle.body += chunk``,
``len`` and ``bytes(cycle.body)`` see), so a message carries the chunk itself, or the few chunks
joined once. uvicorn's flow control (reading paused while more than 64 KiB wait) is unchanged.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging

from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

from api.problems import PROBLEM_MEDIA_TYPE, problem_body
from esign.errors import ErrorCode, EsignError

__all__ = ["HeaderDeadlineProtocol"]

_log = logging.getLogger("esign.api")


@functools.cache
def _header_timeout_s() -> float:
    from api.settings import Settings

    return Settings().header_timeout_s


class _Chunks:
    """The received, not yet delivered part of a request body, in place of uvicorn's ``bytearray``."""

    __slots__ = ("_chunks", "_size")

    def __init__(self) -> None:
        self._chunks: list[bytes] = []
        self._size = 0

    def __iadd__(self, chunk: bytes) -> _Chunks:
        self._chunks.append(chunk)
        self._size += len(chunk)
        return self

    def __len__(self) -> int:
        return self._size

    def __bytes__(self) -> bytes:
        return self._chunks[0] if len(self._chunks) == 1 else b"".join(self._chunks)


class HeaderDeadlineProtocol(HttpToolsProtocol):
    _header_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._arm()

    def on_headers_complete(self) -> None:
        self._disarm()
        super().on_headers_complete()

    def on_body(self, body: bytes) -> None:
        cycle = self.cycle
        if cycle is not None and not isinstance(cycle.body, _Chunks):  # a new request, or one just received
            cycle.body = _Chunks()  # type: ignore[assignment]
        super().on_body(body)

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def send_400_response(self, msg: str) -> None:
        """uvicorn's answer to an unparsable request, as a problem document; the connection is closed."""
        error = EsignError(ErrorCode.MALFORMED_REQUEST, detail=msg.rstrip("."))
        body = json.dumps(problem_body(error), ensure_ascii=False).encode()
        head = [STATUS_LINE[400]]
        for name, value in self.server_state.default_headers:
            head.extend([name, b": ", value, b"\r\n"])
        head.append(f"content-type: {PROBLEM_MEDIA_TYPE}\r\ncontent-length: {len(body)}\r\n".encode())
        self.transport.write(b"".join([*head, b"connection: close\r\n\r\n", body]))
        self.transport.close()

    def _arm(self) -> None:
        if self._header_timer is None:
            self._header_timer = self.loop.call_later(_header_timeout_s(), self._headers_too_slow)

    def _disarm(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _headers_too_slow(self) -> None:
        self._header_timer = None
        _log.warning("request headers not complete in %g s: connection closed", _header_timeout_s())
        self.transport.close()
