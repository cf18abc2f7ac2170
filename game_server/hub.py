"""Delivering a room's events to this process's sockets.

The room's owner publishes every event on the room's pub/sub channel (inside the same Lua
script that persists the state, so only a fenced, durable change is ever announced). Each server
process keeps ONE pub/sub connection, subscribed to the channels of the rooms it has sockets in,
and fans each event out to its local sockets.

An event is ``<header JSON>\\n<message JSON>``; the header says who gets it (``to``: one
connection, ``x``: everyone but one connection), whether to close a socket after it (``close``)
and what it is (``kind``). The message text is forwarded to sockets as is (encoded once).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from typing import Any, Protocol

import redis.asyncio as aioredis
from redis.exceptions import RedisError

log = logging.getLogger("game_server.hub")


class LocalSocket(Protocol):
    conn_id: str

    def deliver(self, header: dict[str, Any], text: str | None) -> None: ...

    def resync(self) -> None:
        """Events may have been missed: ask the owner for a full ``snapshot``."""


def encode_event(header: dict[str, Any], msg: dict[str, Any] | None) -> str:
    return (
        json.dumps(header, separators=(",", ":"))
        + "\n"
        + (json.dumps(msg, separators=(",", ":")) if msg is not None else "")
    )


def decode_event(data: str) -> tuple[dict[str, Any], str | None]:
    head, _, body = data.partition("\n")
    return json.loads(head), (body or None)


class Hub:
    def __init__(self, redis: aioredis.Redis, channel_of: Any) -> None:
        self._redis = redis
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
            room = self._rooms.get(code) if code else None
            if not room:
                continue
            try:
                header, text = decode_event(msg["data"])
            except ValueError:
                log.error("undecodable event on %s", channel)
                continue
            to = header.get("to")
            if to is not None:
                sock = room.get(to)
                if sock is not None:
                    sock.deliver(header, text)
                continue
            exclude = header.get("x")
            for conn_id, sock in list(room.items()):
                if conn_id != exclude:
                    sock.deliver(header, text)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        with contextlib.suppress(Exception):
            await self._pubsub.aclose()
