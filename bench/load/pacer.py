"""When the players of one client process send their updates: one timer for all of them.

Each player waits for its next update's time with :meth:`Pacer.until`; a single callback,
every ``quantum`` seconds while someone waits, releases everyone whose time has come. An
``asyncio.sleep`` per update would arm a timer per update and wake the event loop for each
(about 1,400 wake-ups a second at 256 players, each a pass of the loop and an ``epoll_wait``);
with the 5 ms grid there are at most 200, each releasing several players. An update leaves at
most one quantum after its drawing time (a browser paints every 16.7 ms); latency is measured
from when it is actually sent.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools

QUANTUM_S = 0.005


class Pacer:
    def __init__(self, quantum: float = QUANTUM_S) -> None:
        self.quantum = quantum
        self._loop = asyncio.get_running_loop()
        self._due: list[tuple[float, int, asyncio.Future[None]]] = []
        self._order = itertools.count()  # ties: first come, first released
        self._timer: asyncio.TimerHandle | None = None

    def until(self, when: float) -> asyncio.Future[None]:
        """A future done at the first tick at or after ``when`` (``loop.time()``)."""
        fut = self._loop.create_future()
        heapq.heappush(self._due, (when, next(self._order), fut))
        if self._timer is None:
            self._timer = self._loop.call_later(self.quantum, self._tick)
        return fut

    def _tick(self) -> None:
        now, due = self._loop.time(), self._due
        while due and due[0][0] <= now:
            fut = heapq.heappop(due)[2]
            if not fut.done():  # a cancelled waiter (its player stopped drawing)
                fut.set_result(None)
        self._timer = self._loop.call_later(self.quantum, self._tick) if due else None
