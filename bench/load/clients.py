"""Load-generator processes: each runs the players of some rooms in its own event loop (uvloop).

The coordinating process (:mod:`bench.load.run`) starts them with :func:`client_process` and
talks to each over a pipe: the process answers ``("connected", seconds)`` once its players are
seated, gets the measurement window ``(start, end)`` (``time.monotonic()``, one clock for all
processes; the games start when it arrives, ``--warmup`` seconds before ``start``), answers
``("stats", Stats.to_dict())`` once the window and the grace period for the last guesses are
over, then closes its sockets when told (``"close"``), so that no player hangs up while
another process still measures.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import random
import time
import traceback
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any

import uvloop

from bench.load.drawings import Library
from bench.load.pacer import Pacer
from bench.load.player import Player
from bench.load.stats import Stats


@dataclass(frozen=True)
class ClientConfig:
    """What one client process plays: its rooms ``(code, players)`` and the game's pace."""

    ws_url: str
    origin: str
    rooms: tuple[tuple[str, int], ...]
    first_index: int  # bot names are bot<index>, unique over all processes
    seed: int
    speedup: float
    interval_ms: float
    rounds: int
    seconds: int
    compression: bool
    capacity: bool
    connect_concurrency: int
    grace: float


class ClientRun:
    """The players of one client process."""

    def __init__(self, cfg: ClientConfig) -> None:
        self.cfg = cfg
        self.ws_url = cfg.ws_url
        self.origin = cfg.origin
        self.speedup = cfg.speedup
        self.rounds = cfg.rounds
        self.seconds = cfg.seconds
        self.compression = cfg.compression
        self.capacity = cfg.capacity
        self.rng = random.Random(cfg.seed)
        self.library = Library(cfg.interval_ms, cfg.seed)
        self.stats = Stats()
        self.pacer = Pacer()  # when the players' updates leave
        self.stopping = False
        self.go = False  # hosts start their games (start_games)
        self.players: list[Player] = []
        self.tasks: list[asyncio.Task[None]] = []

    def room_url(self, code: str) -> str:
        """The WebSocket URL with the room in it (``?room=``: what a load balancer hashes on)."""
        return f"{self.ws_url}?room={code}"

    async def connect(self) -> float:
        """Seat every player (each room's host first, so that it is the host); seconds taken."""
        sem = asyncio.Semaphore(self.cfg.connect_concurrency)
        t0 = time.monotonic()

        async def launch(p: Player) -> None:
            async with sem:
                ev = asyncio.Event()
                task = asyncio.create_task(p.play(ev))
                self.tasks.append(task)
                waiter = asyncio.create_task(ev.wait())
                await asyncio.wait({waiter, task}, return_when=asyncio.FIRST_COMPLETED)
                waiter.cancel()

        index = self.cfg.first_index
        for code, size in self.cfg.rooms:
            for k in range(size):
                self.players.append(Player(self, code, index, host=(k == 0), room_size=size))
                index += 1
        hosts = [p for p in self.players if p.host]
        await asyncio.gather(*(launch(p) for p in hosts))
        await asyncio.gather(*(launch(p) for p in self.players if not p.host))
        return time.monotonic() - t0

    async def start_games(self) -> None:
        """Every host starts its game (seating first: no game loads the server while others
        still join); a room where someone failed to connect starts with who is there."""
        self.go = True
        for h in self.players:
            if h.host and h.ws is not None:
                with contextlib.suppress(Exception):
                    h.joined_players = max(h.joined_players, h.room_size)
                    h.maybe_start()

    async def lag_probe(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            t = loop.time()
            await asyncio.sleep(0.05)
            if self.stats.in_window(time.monotonic()):
                self.stats.lag_ms.append((loop.time() - t - 0.05) * 1000.0)

    async def measure(self, start: float, end: float) -> None:
        """Count inside ``[start, end)``, then wait (bounded) for the window's last guesses."""
        stats = self.stats
        stats.window_start, stats.window_end = start, end
        lag = asyncio.create_task(self.lag_probe())
        await asyncio.sleep(max(0.0, end - time.monotonic()))
        stats.drawing_at_end = sum(1 for p in self.players if p.draw_task is not None)
        stats.in_round_at_end = sum(1 for p in self.players if p.in_round)
        grace_end = time.monotonic() + self.cfg.grace
        while time.monotonic() < grace_end and any(  # noqa: ASYNC110 (bounded poll)
            p.pending and p.pending[0][1] < end for p in self.players
        ):
            await asyncio.sleep(0.05)
        for p in self.players:
            p.count_unanswered()
        lag.cancel()

    async def close(self) -> None:
        self.stopping = True
        for p in self.players:
            p.stop_drawing()
        await asyncio.gather(
            *(p.ws.close(wait=5) for p in self.players if p.ws is not None),
            return_exceptions=True,
        )
        for t in self.tasks:
            t.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)


async def _serve(conn: Connection, cfg: ClientConfig) -> None:
    run = ClientRun(cfg)
    conn.send(("connected", await run.connect()))
    gc.collect()
    gc.freeze()  # the collector no longer walks the sockets and players at every pass
    start, end = await asyncio.to_thread(conn.recv)
    await run.start_games()
    await run.measure(start, end)
    conn.send(("stats", run.stats.to_dict()))
    await asyncio.to_thread(conn.recv)  # "close": every process has sent its figures
    await run.close()


def client_process(conn: Connection, cfg: ClientConfig) -> None:
    """Entry point of a client process (``multiprocessing``, spawn)."""
    try:
        uvloop.run(_serve(conn, cfg))
    except Exception:
        with contextlib.suppress(OSError):
            conn.send(("failed", traceback.format_exc(limit=5)))
    finally:
        conn.close()


def message(conn: Connection, kind: str, timeout: float) -> Any:
    """The payload of the next message of a client process, which must be ``kind``."""
    if not conn.poll(timeout):
        raise TimeoutError(f"a client process sent no {kind!r} within {timeout:.0f} s")
    try:
        got, payload = conn.recv()
    except EOFError:
        got, payload = "exited", "(no message)"
    if got != kind:
        raise RuntimeError(f"a client process failed:\n{payload}")
    return payload
