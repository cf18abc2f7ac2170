"""A bound on the time a client may take to send a request's HTTP headers.

uvicorn closes an idle keep-alive connection after ``timeout_keep_alive``, but that timer runs only
*between* requests and is cancelled by the first byte of the next one: a connection that never
sends anything, or sends half a request line and stops (slowloris, half-sent WebSocket upgrades),
is kept open forever. :func:`header_timeout_protocol` returns uvicorn's httptools protocol with one
more timer: armed when the connection is made and when a request's first byte arrives, cancelled
when its headers are complete; when it fires the connection is closed. A WebSocket upgrade is
handed over once its headers are complete, so open WebSockets are not affected.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol


def header_timeout_protocol(seconds: float) -> type[asyncio.Protocol]:
    """uvicorn's ``http`` protocol class, closing connections whose headers take > ``seconds``."""

    class HeaderTimeoutProtocol(HttpToolsProtocol):
        _header_timer: asyncio.TimerHandle | None = None

        def _arm(self) -> None:
            if self._header_timer is None:
                self._header_timer = self.loop.call_later(seconds, self._headers_too_slow)

        def _disarm(self) -> None:
            if self._header_timer is not None:
                self._header_timer.cancel()
                self._header_timer = None

        def _headers_too_slow(self) -> None:
            self._header_timer = None
            if not self.transport.is_closing():
                self.transport.close()

        def connection_made(self, transport: Any) -> None:
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

    return HeaderTimeoutProtocol
