"""uvicorn's httptools protocol with a deadline on request headers: the slow-header (slowloris) defence.

uvicorn times out idle keep-alive connections, but a client that sends a request line and then a
header byte now and then holds its connection open for ever, and enough of them exhaust the
server. This protocol closes a connection whose request headers are not complete within
``ESIGN_HEADER_TIMEOUT_S`` of the request's first byte (or of the connection, for the first
request). The body has its own deadline (``api.middleware.BodyDeadline``). ``esign serve`` runs
uvicorn with it; the callbacks used are httptools' parser callbacks, which uvicorn implements.
"""

from __future__ import annotations

import asyncio
import functools
import logging

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

__all__ = ["HeaderDeadlineProtocol"]

_log = logging.getLogger("esign.api")


@functools.cache
def _header_timeout_s() -> float:
    from api.settings import Settings

    return Settings().header_timeout_s


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

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

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
