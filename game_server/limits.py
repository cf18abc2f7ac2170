"""Per-socket message rate limiting (docs/SECURITY.md).

* :class:`TokenBucket`: ``rate`` tokens per second, at most ``burst`` saved up; one token per
  client message (any frame: text, binary, oversized).
* :class:`MessageLimiter`: the bucket plus a strike counter. A message the bucket refuses is a
  *strike*: it is dropped and answered with ``error`` ``rate_limited``. More than ``strikes``
  strikes within ``window_s`` seconds is abuse: the socket is closed with 1008 (policy
  violation). A legitimate client that bursts now and then never gets there: the default allows
  60 msg/s sustained, bursts of 120, and closes only after 300 refusals in 10 s.

Per-address limits (sockets per IP, joins per IP per minute) live in :class:`node.Node`, which
every socket of the process shares.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from enum import Enum


class TokenBucket:
    def __init__(
        self, rate: float, burst: int, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.rate, self.burst = rate, float(burst)
        self.tokens = float(burst)
        self._clock = clock
        self.t = clock()

    def take(self) -> bool:
        now = self._clock()
        self.tokens = min(self.burst, self.tokens + (now - self.t) * self.rate)
        self.t = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False


class Verdict(Enum):
    ACCEPT = "accept"
    REFUSE = "refuse"  # drop the message, answer ``rate_limited``
    CLOSE = "close"  # abuse: close the socket with 1008


class MessageLimiter:
    def __init__(
        self,
        rate: float,
        burst: int,
        strikes: int,
        window_s: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.bucket = TokenBucket(rate, burst, clock)
        self.strikes = strikes
        self.window_s = window_s
        self._clock = clock
        self._recent: deque[float] = deque()
        self.refused = 0

    def check(self) -> Verdict:
        if self.bucket.take():
            return Verdict.ACCEPT
        now = self._clock()
        self.refused += 1
        recent = self._recent
        recent.append(now)
        while recent and now - recent[0] > self.window_s:
            recent.popleft()
        if len(recent) > self.strikes:
            return Verdict.CLOSE
        return Verdict.REFUSE
