"""Delivering a room's events to this process's sockets.

The owner of a room hands each tick's events to its own process's sockets directly
(:meth:`Hub.deliver`), after they are durable. For sockets on other processes it also publishes
them on the room's pub/sub channel, inside the same Lua script that persists the tick (so only a
fenced, durable change is ever announced). Each server process keeps ONE pub/sub connection,
subscribed to the channels of the rooms it has sockets in, and fans each event out to its local
sockets; events its own process published (header ``o``) were delivered directly already.

An event is a header (who gets it: ``to`` one connection, ``x`` everyone but one connection;
whether to close a socket after it: ``close``; what it is: ``kind``) and the message text,
encoded once, or a :class:`frames.Frame` from which each socket's text is joined.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any, Protocol

import msgspec
import redis.asyncio as aioredis
from redis.exceptions import RedisError

from game_server.frames import Event, Frame, Header, decode_event

log = logging.getLogger("game_server.hub")


class LocalSocket(Protocol):
    conn_id: str

    def deliver(self, header: Header, payload: str | Frame | None) -> None: ...

    def resync(self) -> None:
        """Events may have been missed: ask the owner for a full ``snapshot``."""

    async def reattach(self) -> None:
        """This process's heartbeat had lapsed: re-announce the socket's seat to the owner."""


class Hub:
    def __init__(self, redis: aioredis.Redis, channel_of: Any, proc_id: str) -> None:
        self._redis = redis
        self._proc_id = proc_id
        self._channel_of = channel_of
        self._pubsub = redis.pubsub()
        self._rooms: dict[str, dict[str, LocalSocket]] = {}  # code -> conn_id -> socket
        self._channels: dict[str, str] = {}  # channel -> code
        self._confirmed: dict[str, asyncio.Event] = {}
        self._task: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()
        # channels whose subscription was lost with the connection and not yet restored
        self._stale: set[str] = set()
        self._broken = False

    @property
    def healthy(self) -> bool:
        """False from a lost pub/sub connection until every subscription is restored."""
        return not self._broken

    def rooms(self) -> list[str]:
        return list(self._rooms)

    def sockets(self) -> list[LocalSocket]:
        return [s for room in self._rooms.values() for s in room.values()]

    async def add(self, code: str, sock: LocalSocket) -> None:
        """Route ``code``'s events to ``sock``; returns once the subscription is active."""
        async with self._lock:
            room = self._rooms.setdefault(code, {})
            room[sock.conn_id] = sock
            channel = self._channel_of(code)
            if channel not in self._channels:
                self._channels[channel] = code
                event = self._confirmed[channel] = asyncio.Event()
                await self._pubsub.subscribe(channel)
                if self._task is None:
                    self._task = asyncio.create_task(self._listen(), name="hub")
            else:
                event = self._confirmed[channel]
        await asyncio.wait_for(event.wait(), timeout=10)

    async def remove(self, code: str, sock: LocalSocket) -> None:
        async with self._lock:
            room = self._rooms.get(code)
            if room is None or room.get(sock.conn_id) is not sock:
                return
            del room[sock.conn_id]
            if room:
                return
            del self._rooms[code]
            channel = self._channel_of(code)
            self._channels.pop(channel, None)
            self._confirmed.pop(channel, None)
            self._stale.discard(channel)
            with contextlib.suppress(RedisError, OSError):
                await self._pubsub.unsubscribe(channel)

    async def _listen(self) -> None:
        while True:
            try:
                msg = await self._pubsub.get_message(ignore_subscribe_messages=False, timeout=1.0)
            except asyncio.CancelledError:
                raise
            except Exception:
                if not self._broken:
                    log.warning("pub/sub connection lost; reconnecting", exc_info=True)
                self._broken = True
                self._stale = set(self._channels)
                await asyncio.sleep(0.1)  # back off before reconnecting (redis-py resubscribes)
                continue
            if msg is None:
                if self._broken and not self._stale:
                    self._broken = False
                continue
            kind, channel = msg["type"], msg["channel"]
            if kind == "subscribe":
                event = self._confirmed.get(channel)
                if event is not None:
                    event.set()
                if channel in self._stale:
                    # resubscribed after a lost connection: events published meanwhile are
                    # gone, so every local socket of the room asks for a fresh snapshot
                    self._stale.discard(channel)
                    code = self._channels.get(channel)
                    for sock in list(self._rooms.get(code, {}).values()) if code else []:
                        sock.resync()
                if self._broken and not self._stale:
                    log.warning("pub/sub connection restored")
                    self._broken = False
                continue
            if kind != "message":
                continue
            code = self._channels.get(channel)
            if code is None or code not in self._rooms:
                continue
            try:
                header, payload = decode_event(msg["data"])
            except (ValueError, msgspec.DecodeError):
                log.error("undecodable event on %s", channel)
                continue
            if header.get("o") != self._proc_id:
                self.deliver(code, [(header, payload)])

    def deliver(self, code: str, events: list[Event]) -> None:
        """Hand ``events`` of room ``code`` to this process's sockets in the room."""
        room = self._rooms.get(code)
        if not room:
            return
        for header, payload in events:
            to = header.get("to")
            if to is not None:
                sock = room.get(to)
                if sock is not None:
                    sock.deliver(header, payload)
                continue
            exclude = header.get("x")
            for conn_id, sock in list(room.items()):
                if conn_id != exclude:
                    sock.deliver(header, payload)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        with contextlib.suppress(Exception):
            await self._pubsub.aclose()
