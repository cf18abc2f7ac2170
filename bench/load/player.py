"""One simulated player: joins its room, draws real drawings of each prompt as the protocol says
(docs/protocol.md), and times stroke-to-guess latency.

Every ``points`` message carries a ``seq``; the player notes when it sent it, and the first guess
for that player whose ``seq`` is >= it ends its stroke-to-guess latency (the server coalesces:
one guess may cover several updates). Guesses arrive either as per-update ``guess`` messages or
inside the per-tick ``frame`` message (``frame.guesses[player_id]``); ``ink`` (and a frame's
``ink``) is not parsed. The socket is a :class:`~bench.load.wsclient.WSClient`: messages are
handled synchronously as they are parsed, and sending is a buffered write.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections import deque
from typing import TYPE_CHECKING, Any

from bench.load.drawings import points_message
from bench.load.wsclient import CLOSE_ABNORMAL, ConnectionClosed, WSClient
from model.artifact import DEFAULT_ARTIFACT
from model.recognition import DEFAULT_RULE, RecognitionRule

if TYPE_CHECKING:
    from bench.load.clients import ClientRun


def _shipped_threshold() -> float:
    """The shipped artifact's calibrated recognition threshold (model/recognition.py), read from
    its metadata without loading the weights."""
    meta = json.loads(DEFAULT_ARTIFACT.read_text())
    rule = meta.get("recognition")
    return (DEFAULT_RULE if rule is None else RecognitionRule.from_json(rule)).threshold


# capacity mode (where the server never recognizes) judges recognition client-side from the top
# guesses it gets: top guess = prompt with p >= the shipped rule's threshold. That is the rule
# itself while the threshold is above 0.5 (then only the top guess can reach it).
RECOGNITION_CONFIDENCE = _shipped_threshold()
_TYPE_RE = re.compile(r'"type"\s*:\s*"([a-z_]+)"')
_PLAYER_RE = re.compile(r'"player_id"\s*:\s*"([^"]*)"')
# the first "guesses" key of a frame is the frame's own: ink ops never contain that string
_FRAME_GUESSES_RE = re.compile(r'"guesses"\s*:\s*')
_DECODER = json.JSONDecoder()


def key_pattern(player_id: str) -> re.Pattern[str]:
    """Where ``"player_id":`` stands as a key (a guess's labels and numbers are never keys)."""
    return re.compile(rf'"{re.escape(player_id)}"\s*:\s*')


def frame_guess(raw: str, key: re.Pattern[str]) -> dict[str, Any] | None:
    """``frame.guesses[player]`` (``{"seq", "guesses"}``; ``key``: :func:`key_pattern` of the
    player), decoded alone: neither the ink nor the other players' guesses are parsed."""
    section = _FRAME_GUESSES_RE.search(raw)
    if section is None:
        return None
    m = key.search(raw, section.end())
    if m is None:
        return None
    value, _ = _DECODER.raw_decode(raw, m.end())
    return value if isinstance(value, dict) else None  # a list: the player's ink after it


class Player:
    def __init__(self, run: ClientRun, room: str, index: int, host: bool, room_size: int) -> None:
        self.run = run
        self.room = room
        self.index = index
        self.host = host
        self.room_size = room_size
        self.ws: WSClient | None = None
        self.player_id: str | None = None
        self.key: re.Pattern[str] | None = None  # of player_id in a frame's guesses
        self.seq = 0
        self.pending: deque[tuple[int, float]] = deque()
        self.draw_task: asyncio.Task[None] | None = None
        self.recognized_this_round = False
        self.attempt_open = False
        self.attempt_hit = False
        self.prompt: str | None = None
        self.in_round = False
        self.joined_players = 1
        self.started = False
        self.welcomed: asyncio.Event | None = None

    # -- sending

    def send(self, data: str) -> None:
        assert self.ws is not None
        self.run.stats.bytes_out += len(data)
        self.ws.send(data)

    def send_obj(self, obj: dict[str, Any]) -> None:
        self.send(json.dumps(obj, separators=(",", ":")))

    async def draw(self, prompt: str) -> None:
        run = self.run
        stats = run.stats
        ws = self.ws
        assert ws is not None
        loop = asyncio.get_running_loop()
        await asyncio.sleep(run.rng.uniform(0.0, 0.5) / run.speedup)  # reading the prompt
        first = True
        while True:
            updates = run.library.updates_for(prompt)
            if not updates:
                return
            if not first:
                self.seq += 1
                self.send_obj({"type": "clear", "seq": self.seq})
                await asyncio.sleep(0.5 / run.speedup)
            first = False
            self.attempt_open = True
            self.attempt_hit = False
            t0 = loop.time()
            for update in updates:
                due = t0 + update[0] / 1000.0 / run.speedup
                if due > loop.time():
                    await run.pacer.until(due)
                self.seq += 1
                now = time.monotonic()
                self.pending.append((self.seq, now))
                if stats.in_window(now):
                    stats.sent_updates += 1
                stats.sent_total += 1
                self.send(points_message(self.seq, update))
                await ws.drain()  # only waits while the socket's buffer is full
            await asyncio.sleep(1.0 / run.speedup)  # looking at the guess
            self.attempt_open = False
            if stats.in_window(time.monotonic()):
                if self.attempt_hit:
                    stats.recognized += 1  # capacity mode: recognized client-side
                else:
                    stats.drawings_unrecognized += 1  # fully drawn, not recognized

    def _draw_done(self, task: asyncio.Task[None]) -> None:
        if not task.cancelled() and task.exception() is not None and not self.run.stopping:
            exc = task.exception()
            if not isinstance(exc, ConnectionClosed):
                self.run.stats.errors[f"client_{type(exc).__name__}"] += 1

    def stop_drawing(self) -> None:
        if self.draw_task is not None:
            self.draw_task.cancel()
            self.draw_task = None

    # -- receiving

    def on_guess(self, seq: int, guesses: list[dict[str, Any]], now: float) -> None:
        """This player's guess covering its updates up to ``seq``."""
        stats = self.run.stats
        if self.run.capacity and self.attempt_open and not self.attempt_hit:
            top = (guesses or [{}])[0]
            if top.get("label") == self.prompt and top.get("p", 0) >= RECOGNITION_CONFIDENCE:
                self.attempt_hit = True  # the server would have recognized this drawing
        if stats.in_window(now):
            stats.guesses += 1
        while self.pending and self.pending[0][0] <= seq:
            _, t_sent = self.pending.popleft()
            if stats.in_window(t_sent):
                stats.latencies_ms.append((now - t_sent) * 1000.0)

    def end_round(self) -> None:
        self.stop_drawing()
        stats = self.run.stats
        if self.in_round:
            stats.player_rounds += 1
            stats.player_rounds_recognized += int(self.recognized_this_round)
        self.count_unanswered()
        self.in_round = False

    def count_unanswered(self) -> None:
        """Updates of the window still without a guess are unanswered."""
        stats = self.run.stats
        stats.unanswered += sum(1 for _, t_sent in self.pending if stats.in_window(t_sent))
        self.pending.clear()

    def maybe_start(self) -> None:
        """The host starts the game once every player is seated and the run says go."""
        if self.host and self.run.go and not self.started and self.joined_players >= self.room_size:
            self.started = True
            run = self.run
            self.send_obj({"type": "settings", "rounds": run.rounds, "seconds": run.seconds})
            self.send_obj({"type": "start"})

    def handle(self, raw: str, now: float) -> None:
        stats = self.run.stats
        stats.messages_in += 1
        m = _TYPE_RE.search(raw, 0, 40)
        kind = m.group(1) if m else None
        if kind == "ink":  # the bulk of the traffic: nothing to do with it
            return
        if kind == "guess":  # most are for the other players of the room: not decoded
            m = _PLAYER_RE.search(raw)
            if m is not None and m.group(1) != self.player_id:
                return
        elif kind == "frame":
            mine = frame_guess(raw, self.key) if self.key is not None else None
            if mine:
                self.on_guess(mine.get("seq", -1), mine.get("guesses") or [], now)
            return
        msg = json.loads(raw)
        kind = msg.get("type")
        if kind == "guess":
            if msg.get("player_id") == self.player_id:
                self.on_guess(msg.get("seq", -1), msg.get("guesses") or [], now)
        elif kind == "welcome":
            self.player_id = msg["player_id"]
            self.key = key_pattern(msg["player_id"])
            if self.welcomed is not None:
                self.welcomed.set()  # the next player may join (the host joins first)
            snap = msg.get("snapshot") or {}
            self.joined_players = len(snap.get("players") or []) or 1
            self.maybe_start()
        elif kind == "player_joined":
            self.joined_players += 1
            self.maybe_start()
        elif kind == "round_started":
            self.end_round()
            stats.rounds_started += 1
            self.in_round = True
            self.recognized_this_round = False
            self.prompt = msg["prompt"]
            self.draw_task = asyncio.create_task(self.draw(msg["prompt"]))
            self.draw_task.add_done_callback(self._draw_done)
        elif kind == "recognized":
            if msg.get("player_id") == self.player_id:
                self.recognized_this_round = True
                self.stop_drawing()
                if stats.in_window(now):
                    stats.recognized += 1
                    if msg.get("elapsed_ms") is not None:
                        stats.recognized_ms.append(float(msg["elapsed_ms"]))
        elif kind == "round_ended":
            self.end_round()
        elif kind == "game_ended":
            self.end_round()
            if self.host:
                self.send_obj({"type": "start"})
        elif kind == "error":
            if msg.get("ref") == "join" and self.welcomed is not None:
                self.welcomed.set()
            stats.count_error(msg.get("code", "?"))

    def _on_text(self, raw: str) -> None:
        self.handle(raw, time.monotonic())

    async def play(self, connected: asyncio.Event | None = None) -> None:
        run = self.run
        try:
            self.ws = await WSClient.connect(
                run.room_url(self.room),
                self._on_text,
                origin=run.origin,
                compression=run.compression,
                max_size=2**22,
                open_timeout=30,
            )
        except (OSError, ValueError, TimeoutError):  # HandshakeError is a ValueError
            run.stats.connect_failures += 1
            return
        try:
            self.welcomed = connected
            self.send_obj({"type": "join", "name": f"bot{self.index}", "room": self.room})
            try:
                closed = await self.ws.closed
            except Exception as exc:  # what handle() raised: the connection was aborted
                run.stats.errors[f"client_{type(exc).__name__}"] += 1
                return
            if not run.stopping:
                run.stats.dropped += 1
                code = "abnormal" if closed.code == CLOSE_ABNORMAL else closed.code
                run.stats.errors[f"closed_{code}"] += 1
        finally:
            if connected is not None:
                connected.set()
            self.stop_drawing()
            if run.stopping:
                await self.ws.close(wait=2)
