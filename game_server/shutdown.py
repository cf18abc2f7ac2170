"""Graceful stop on SIGTERM / SIGINT (docs/SECURITY.md, "Faults").

uvicorn's own shutdown closes every WebSocket with 1012 at once and only then runs the app's
lifespan shutdown. :class:`GracefulServer` first tells every player: each joined socket gets a
``server_shutdown`` message and is closed with 1012 ("service restart") by the app itself, which
also records the disconnect in the room (the seat is kept for ``resume_seconds``), then waits
(at most ``shutdown_grace_seconds``) for those sockets to finish, and only then lets uvicorn stop.
The lifespan shutdown then releases this process's room leases so another process takes the
rooms over at once. Room state is durable at every step (each command's effects are persisted in
Redis before they are announced), so nothing is lost; commands still in a room's stream are
applied by the next owner.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from typing import Any

import uvicorn

log = logging.getLogger("game_server.shutdown")


async def notify_shutdown(app: Any, grace_s: float) -> int:
    """Send ``server_shutdown`` + close 1012 to every joined socket; wait (bounded) for them to
    close. Returns how many sockets were told."""
    node = getattr(app.state, "node", None)
    if node is None:
        return 0
    socks = node.hub.sockets()
    for sock in socks:
        await sock.close_for_shutdown()
    loop = asyncio.get_running_loop()
    deadline = loop.time() + grace_s
    while node.hub.sockets() and loop.time() < deadline:  # noqa: ASYNC110 - no close event
        await asyncio.sleep(0.02)  # production drain loop, bounded by the grace period
    left = len(node.hub.sockets())
    log.info("shutdown: told %d socket(s); %d still open after the grace period", len(socks), left)
    return len(socks)


class GracefulServer(uvicorn.Server):
    def __init__(self, config: uvicorn.Config, app: Any, grace_s: float) -> None:
        super().__init__(config)
        self._app = app
        self._grace_s = grace_s

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        try:
            await notify_shutdown(self._app, self._grace_s)
        except Exception:
            log.exception("shutdown: notifying players failed")
        await super().shutdown(sockets)
        # uvicorn re-raises the signal after a graceful stop (the process then dies of it);
        # a completed graceful stop exits with status 0 instead
        captured = getattr(self, "_captured_signals", None)
        if isinstance(captured, list):
            captured.clear()
