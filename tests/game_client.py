"""A test/load client for the Doodle Arena WebSocket protocol (docs/protocol.md).

Messages are collected by a background reader; ``wait`` returns the next matching message (in
arrival order, each message returned at most once per ``wait`` cursor) without any sleeping.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable, Sequence
from typing import Any

import websockets
from websockets.asyncio.client import ClientConnection

from tests.quickdraw import PointStroke, update_batches

Msg = dict[str, Any]


class GameClient:
    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.messages: list[Msg] = []
        self._cursor: dict[str, int] = {}
        self._changed = asyncio.Condition()
        self.closed: asyncio.Future[int | None] = asyncio.get_running_loop().create_future()
        self._reader = asyncio.create_task(self._read())
        self.player_id: str | None = None
        self.resume_token: str | None = None
        self.seq = 0
        self._sent_seqs: dict[str, int] = {}  # cursor -> our last seq when it was marked

    @classmethod
    async def connect(cls, url: str) -> GameClient:
        return cls(await websockets.connect(url, max_size=2**24))

    async def _read(self) -> None:
        try:
            async for raw in self.ws:
                msg = json.loads(raw)
                async with self._changed:
                    self.messages.append(msg)
                    self._changed.notify_all()
        except websockets.ConnectionClosed:
            pass
        finally:
            code = self.ws.close_code
            if not self.closed.done():
                self.closed.set_result(code)
            async with self._changed:
                self._changed.notify_all()

    async def send(self, msg: Msg | str | bytes) -> None:
        await self.ws.send(msg if isinstance(msg, str | bytes) else json.dumps(msg))

    def find(self, kind: str, **match: Any) -> list[Msg]:
        return [
            m
            for m in self.messages
            if m["type"] == kind and all(m.get(k) == v for k, v in match.items())
        ]

    async def wait(
        self,
        kind: str,
        pred: Callable[[Msg], bool] | None = None,
        within: float = 60.0,
        cursor: str = "default",
        **match: Any,
    ) -> Msg:
        """The next message of ``kind`` (after the last one this cursor returned)."""

        def ok(m: Msg) -> bool:
            return (
                m["type"] == kind
                and all(m.get(k) == v for k, v in match.items())
                and (pred is None or pred(m))
            )

        try:
            return await self._wait(ok, kind, within, cursor)
        except TimeoutError:
            tail = [
                {k: v for k, v in m.items() if k not in ("snapshot", "results", "points")}
                for m in self.messages[-12:]
            ]
            raise TimeoutError(f"no {kind} {match} within {within} s; last: {tail}") from None

    async def _wait(self, ok: Callable[[Msg], bool], kind: str, within: float, cursor: str) -> Msg:
        async with asyncio.timeout(within), self._changed:
            while True:
                start = self._cursor.get(cursor, 0)
                for i in range(start, len(self.messages)):
                    if ok(self.messages[i]):
                        self._cursor[cursor] = i + 1
                        return self.messages[i]
                if self.closed.done():
                    raise ConnectionError(f"closed ({self.closed.result()}) waiting for {kind}")
                await self._changed.wait()

    async def settle(self, cursor: str, within: float = 60.0) -> None:
        """Wait until the server has answered every drawing update of this player sent after
        ``mark(cursor)``: an accepted update is covered by a guess on our drawing (a ``frame``'s
        ``guesses`` with its ``seq`` or a later one), a refused one by an ``error``. Updates are
        applied in order, and in these tests a refusal (drawing locked, round over) refuses
        every later update too, so: done when every update after the latest guess is refused."""
        start = self._cursor.get(cursor, 0)
        first = self._sent_seqs.get(cursor, self.seq)

        def answered() -> bool:
            guessed, errors = first, 0
            for m in self.messages[start:]:
                if m["type"] == "frame" and self.player_id in m.get("guesses", {}):
                    guessed = max(guessed, m["guesses"][self.player_id]["seq"])
                elif m["type"] == "error" and m.get("ref") in ("points", "undo", "clear"):
                    errors += 1
            return errors >= self.seq - guessed

        async with asyncio.timeout(within), self._changed:
            while not answered():
                if self.closed.done():
                    raise ConnectionError(f"closed ({self.closed.result()}) while settling")
                await self._changed.wait()

    def ink(self, player_id: str) -> list[Msg]:
        """The ink ops of ``player_id`` received in frames so far, in order."""
        return [
            op
            for m in self.messages
            if m["type"] == "frame"
            for op in m.get("ink", {}).get(player_id, [])
        ]

    def guesses(self, player_id: str) -> list[Msg]:
        """The guesses on ``player_id``'s drawing received in frames so far."""
        return [
            m["guesses"][player_id]
            for m in self.messages
            if m["type"] == "frame" and player_id in m.get("guesses", {})
        ]

    async def wait_ink(
        self, player_id: str, within: float = 60.0, cursor: str = "ink", **match: Any
    ) -> Msg:
        """The next ink op of ``player_id`` (with the fields in ``match``) in a ``frame``."""

        def ok(o: Msg) -> bool:
            return all(o.get(k) == v for k, v in match.items())

        def has(m: Msg) -> bool:
            return any(ok(o) for o in m.get("ink", {}).get(player_id, []))

        frame = await self.wait("frame", pred=has, within=within, cursor=cursor)
        return next(o for o in frame["ink"][player_id] if ok(o))

    async def wait_guess(self, player_id: str, within: float = 60.0, cursor: str = "guess") -> Msg:
        """The next guess on ``player_id``'s drawing (``{"seq", "guesses"}``) in a ``frame``."""
        frame = await self.wait(
            "frame", pred=lambda m: player_id in m.get("guesses", {}), within=within, cursor=cursor
        )
        return frame["guesses"][player_id]

    def mark(self, cursor: str) -> None:
        """Make ``cursor`` skip every message received so far."""
        self._cursor[cursor] = len(self.messages)
        self._sent_seqs[cursor] = self.seq

    async def join(self, name: str, **fields: Any) -> Msg:
        reply = await self.join_or_error(name, **fields)
        if reply["type"] != "welcome":
            raise AssertionError(f"join refused: {reply}")
        self.player_id = reply["player_id"]
        self.resume_token = reply["resume_token"]
        return reply

    async def join_or_error(self, name: str, **fields: Any) -> Msg:
        await self.send({"type": "join", "name": name, **fields})
        async with asyncio.timeout(30), self._changed:
            start = len(self.messages)
            while True:
                for m in self.messages[start:]:
                    if m["type"] in ("welcome", "error"):
                        return m
                await self._changed.wait()

    def recognized(self) -> bool:
        """Whether this player was recognized in the current round."""
        for m in reversed(self.messages):
            if m["type"] == "round_started":
                return False
            if m["type"] == "recognized" and m["player_id"] == self.player_id:
                return True
        return False

    async def draw(
        self, strokes: Sequence[PointStroke], first_stroke: int = 0, batch: int = 16
    ) -> int:
        """Stream a drawing stroke by stroke; stop once this player is recognized.
        Returns the number of updates sent."""
        sent = 0
        for index, points in update_batches(strokes, batch):
            if self.recognized():
                break
            self.seq += 1
            await self.send(
                {
                    "type": "points",
                    "seq": self.seq,
                    "stroke": first_stroke + index,
                    "points": points,
                }
            )
            sent += 1
        return sent

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await self.ws.close()
        self._reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._reader
