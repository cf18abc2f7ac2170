"""The server clock: epoch milliseconds that advance with the monotonic clock.

Deadlines travel in messages and Redis as absolute epoch milliseconds (every process and client
can interpret them), but inside a process time must not jump when the wall clock is adjusted. So
the epoch is read once and then advanced by ``time.monotonic_ns()``: no drift, no jumps.
"""

from __future__ import annotations

import time


class Clock:
    def __init__(self) -> None:
        self._epoch_ns = time.time_ns()
        self._mono_ns = time.monotonic_ns()

    def now_ms(self) -> int:
        return (self._epoch_ns + time.monotonic_ns() - self._mono_ns) // 1_000_000

    def seconds_until(self, epoch_ms: int) -> float:
        return max(0.0, (epoch_ms - self.now_ms()) / 1000.0)
