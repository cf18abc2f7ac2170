"""What a load run counts: per-client-process counters and latencies, merged at the end, and the
CPU time of process trees (server + its Redis, load generator processes) read from ``/proc``."""

from __future__ import annotations

import contextlib
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field, fields
from typing import Any

import psutil

# error replies to points that crossed a state change in flight (recognized, round over):
# expected in a real game, reported apart from the errors
BENIGN_RACES = ("drawing_locked", "bad_phase")


@dataclass
class Stats:
    """Counters of one client process; times are ``time.monotonic()`` (one clock for all
    processes of the machine)."""

    window_start: float = float("inf")
    window_end: float = float("inf")
    sent_updates: int = 0  # points messages sent inside the window
    sent_total: int = 0
    latencies_ms: list[float] = field(default_factory=list)
    guesses: int = 0
    unanswered: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    races: Counter[str] = field(default_factory=Counter)
    dropped: int = 0
    connect_failures: int = 0
    recognized: int = 0
    drawings_unrecognized: int = 0
    recognized_ms: list[float] = field(default_factory=list)
    player_rounds: int = 0
    player_rounds_recognized: int = 0
    messages_in: int = 0
    rounds_started: int = 0
    bytes_out: int = 0
    lag_ms: list[float] = field(default_factory=list)  # event-loop lag of the client
    drawing_at_end: int = 0
    in_round_at_end: int = 0

    def in_window(self, t: float) -> bool:
        return self.window_start <= t < self.window_end

    def count_error(self, code: str) -> None:
        if code in BENIGN_RACES:
            self.races[code] += 1
        else:
            self.errors[code] += 1

    def to_dict(self) -> dict[str, Any]:
        """Plain values (``asdict`` would turn a Counter into counts of its items)."""
        return {f.name: getattr(self, f.name) for f in fields(self)}

    @classmethod
    def merged(cls, parts: Iterable[dict[str, Any]]) -> Stats:
        """The sum of several processes' :meth:`to_dict` (same window)."""
        out = cls()
        for part in parts:
            for key, value in part.items():
                if key in ("window_start", "window_end"):
                    setattr(out, key, value)
                elif isinstance(value, dict):
                    getattr(out, key).update(value)  # Counter: adds
                else:
                    setattr(out, key, getattr(out, key) + value)  # numbers add, lists extend
        return out


def _tree(pid: int, children: bool) -> list[psutil.Process]:
    proc = psutil.Process(pid)
    procs = [proc]
    if children:
        with contextlib.suppress(psutil.Error):
            procs += proc.children(recursive=True)
    return procs


def cpu_seconds(pids: Iterable[int], children: bool = False) -> dict[int, float]:
    """User + system CPU seconds of each process (and its descendants), by pid."""
    out: dict[int, float] = {}
    for pid in pids:
        with contextlib.suppress(psutil.Error):
            for p in _tree(pid, children):
                with contextlib.suppress(psutil.Error):
                    t = p.cpu_times()
                    out[p.pid] = t.user + t.system
    return out


def thread_seconds(pid: int) -> dict[int, float]:
    """User + system CPU seconds of each thread of a process, by thread id (the thread whose id
    is ``pid`` is its main thread: a server's event loop)."""
    with contextlib.suppress(psutil.Error):
        return {t.id: t.user_time + t.system_time for t in psutil.Process(pid).threads()}
    return {}


def cpu_used(before: dict[int, float], after: dict[int, float]) -> dict[int, float]:
    """CPU seconds each process used between two :func:`cpu_seconds` readings (a process
    that appeared in between counts from zero)."""
    return {pid: t - before.get(pid, 0.0) for pid, t in after.items()}


def vm_hwm_mb(pid: int) -> float | None:
    """Peak resident memory (``VmHWM``) of a process, MB."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        return None
    return None
