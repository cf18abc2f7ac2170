"""Whether a server process is overloaded: a hysteresis over what its tick loop measures.

No I/O and no clock of its own: :class:`owner.Owners` feeds :meth:`LoadMeter.observe` with the
time and a :class:`Sample` after every tick and on every upkeep (``lease_ms / 3``, so a tick that
never ends is noticed too):

* ``lag_ms``: how long the oldest input that no finished tick has handled yet has waited beyond
  ``tick_ms`` (below capacity a tick handles its input within a tick or two; past capacity this
  grows without bound);
* ``full_inboxes``: rooms whose inbox is at ``inbox_limit``, i.e. whose sockets' reads are
  parked by backpressure.

The process becomes overloaded when ``lag_ms >= enter_ms`` or ``full_inboxes >= full_inboxes``
(when that threshold is not 0). It stays so until the load has stayed below the lower level
(``lag_ms < leave_ms`` and no full inbox; the settings check ``leave_ms <= enter_ms``) for
``calm_ms`` without a break, which is also the shortest time it stays overloaded: a process
does not flap at the boundary.
"""

from __future__ import annotations

from dataclasses import dataclass

from game_server.config import Settings

MIN_RETRY_AFTER_MS = 1000  # the shortest wait an overloaded process asks a client for


@dataclass(frozen=True, slots=True)
class Sample:
    lag_ms: float = 0.0
    full_inboxes: int = 0


class LoadMeter:
    def __init__(self, enter_ms: float, leave_ms: float, full_inboxes: int, calm_ms: int) -> None:
        self.enter_ms = enter_ms
        self.leave_ms = leave_ms
        self.full_inboxes = full_inboxes
        self.calm_ms = calm_ms
        self.overloaded = False
        self.last = Sample()
        self._calm_since: int | None = None  # overloaded, and below the leave level since then

    @classmethod
    def of(cls, settings: Settings) -> LoadMeter:
        return cls(
            settings.overload_enter_ms,
            settings.overload_leave_ms,
            settings.overload_full_inboxes,
            settings.overload_calm_ms,
        )

    def observe(self, now: int, sample: Sample) -> bool:
        """Take one measurement at ``now`` (ms); True when the state changed."""
        self.last = sample
        if not self.overloaded:
            full = self.full_inboxes > 0 and sample.full_inboxes >= self.full_inboxes
            if sample.lag_ms >= self.enter_ms or full:
                self.overloaded = True
                self._calm_since = None
                return True
            return False
        if sample.lag_ms >= self.leave_ms or sample.full_inboxes > 0:
            self._calm_since = None
            return False
        if self._calm_since is None:
            self._calm_since = now
        if now - self._calm_since >= self.calm_ms:
            self.overloaded = False
            self._calm_since = None
            return True
        return False

    def retry_after_ms(self, now: int) -> int:
        """How long a refused client should wait before trying again: at least until the load
        could have stayed calm for ``calm_ms``."""
        calm_for = 0 if self._calm_since is None else now - self._calm_since
        return max(MIN_RETRY_AFTER_MS, self.calm_ms - calm_for)
