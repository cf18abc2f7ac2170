"""Prometheus metrics, served at ``GET /metrics`` (docs/SECURITY.md, "Observability").

Every app gets its own :class:`prometheus_client.CollectorRegistry` (``app.state.metrics``), so
several apps in one process (the tests) never share or collide on series.

=====================================  ==========================================================
``doodle_connections``                 WebSockets open on this process
``doodle_rooms_owned``                 rooms whose owner (rules + timers) is this process
``doodle_rooms_local``                 rooms with at least one socket on this process
``doodle_messages_total{type}``        valid client messages accepted, by ``type``
``doodle_refusals_total{reason}``      refusals: every ``error`` sent (reason = error code),
                                       handshakes refused (``origin``, ``too_many_connections``),
                                       sockets closed for abuse (``rate_limit_close``)
``doodle_inference_seconds``           one model forward pass over a batch of drawings
``doodle_stroke_to_guess_seconds``     a drawing update arriving -> the ``guess`` covering it
                                       sent back to the drawer's socket
``doodle_event_loop_lag_seconds``      how late the event loop runs a 0.25 s timer
=====================================  ==========================================================
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.exposition import generate_latest
from prometheus_client.registry import Collector

from game_server import protocol

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
LOOP_LAG_INTERVAL_S = 0.25

MESSAGE_TYPES: dict[type, str] = {
    protocol.Join: "join",
    protocol.SettingsMsg: "settings",
    protocol.Start: "start",
    protocol.Points: "points",
    protocol.Undo: "undo",
    protocol.Clear: "clear",
    protocol.Kick: "kick",
    protocol.PlayAgain: "play_again",
    protocol.Leave: "leave",
    protocol.Ping: "ping",
    protocol.Chat: "chat",
}


class _NodeCollector(Collector):
    """Gauges read from the node at scrape time (no bookkeeping on the hot path)."""

    def __init__(self, node_of: Callable[[], Any]) -> None:
        self._node_of = node_of

    def collect(self) -> Iterator[GaugeMetricFamily]:
        node = self._node_of()
        conns = node.addresses.count() if node is not None else 0
        owned = len(node.owners.actors) if node is not None else 0
        local = len(node.hub.rooms()) if node is not None else 0
        yield GaugeMetricFamily(
            "doodle_connections", "WebSockets open on this process", value=conns
        )
        yield GaugeMetricFamily(
            "doodle_rooms_owned", "rooms whose owner is this process", value=owned
        )
        yield GaugeMetricFamily(
            "doodle_rooms_local", "rooms with a socket on this process", value=local
        )
        load = node.owners.load if node is not None else None
        yield GaugeMetricFamily(
            "doodle_overloaded",
            "1 while this process is overloaded (it refuses new rooms it cannot hand off)",
            value=int(load is not None and load.overloaded),
        )
        yield GaugeMetricFamily(
            "doodle_input_lag_ms",
            "how long the oldest unhandled input waited beyond a tick, when last measured",
            value=load.last.lag_ms if load is not None else 0.0,
        )


class Metrics:
    def __init__(self, node_of: Callable[[], Any] | None = None) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.messages = Counter(
            "doodle_messages", "valid client messages accepted", ["type"], registry=r
        )
        self._message_counters: dict[type, Any] = {}
        self.refusals = Counter(
            "doodle_refusals", "client messages or connections refused", ["reason"], registry=r
        )
        self.inference = Histogram(
            "doodle_inference_seconds",
            "model forward pass over one batch",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.stroke_to_guess = Histogram(
            "doodle_stroke_to_guess_seconds",
            "drawing update received -> guess covering it sent to the drawer",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.loop_lag = Histogram(
            "doodle_event_loop_lag_seconds",
            f"lateness of a {LOOP_LAG_INTERVAL_S} s event-loop timer",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        if node_of is not None:
            r.register(_NodeCollector(node_of))

    # -------------------------------------------------------------- hot-path helpers

    def message(self, msg: object) -> None:
        # the labelled child looked up once per message type (labels() takes a lock and
        # builds a key on every call)
        child = self._message_counters.get(type(msg))
        if child is None:
            child = self.messages.labels(MESSAGE_TYPES.get(type(msg), "other"))
            self._message_counters[type(msg)] = child
        child.inc()

    def refused(self, reason: str) -> None:
        self.refusals.labels(reason).inc()

    def guess_timer(self) -> GuessTimer:
        return GuessTimer(self.stroke_to_guess)

    def timed_classifier(self, classifier: Any) -> Any:
        return TimedClassifier(classifier, self.inference)

    def exposition(self) -> bytes:
        return generate_latest(self.registry)

    async def watch_loop_lag(self, interval: float = LOOP_LAG_INTERVAL_S) -> None:
        """Run forever: observe how late the loop wakes a timer (monitoring, not test sync)."""
        loop = asyncio.get_running_loop()
        while True:
            start = loop.time()
            await asyncio.sleep(interval)
            self.loop_lag.observe(max(0.0, loop.time() - start - interval))


_FALLBACK: Metrics | None = None


def metrics_of(app: Any) -> Metrics:
    """The app's metrics; a process-wide spare one for apps built without them."""
    found = getattr(app.state, "metrics", None)
    if isinstance(found, Metrics):
        return found
    global _FALLBACK
    if _FALLBACK is None:
        _FALLBACK = Metrics()
    return _FALLBACK


class GuessTimer:
    """Per socket: when each drawing update (``seq``) arrived, until a guess covers it."""

    MAX_PENDING = 256

    def __init__(self, histogram: Histogram) -> None:
        self._hist = histogram
        self._sent: dict[int, float] = {}

    def sent(self, seq: int) -> None:
        self._sent[seq] = time.monotonic()
        if len(self._sent) > self.MAX_PENDING:
            del self._sent[next(iter(self._sent))]

    def guessed(self, seq: int) -> None:
        """A guess on this player's drawing as of update ``seq`` reached the socket."""
        if not self._sent:
            return
        now = time.monotonic()
        for s in [s for s in self._sent if s <= seq]:
            self._hist.observe(now - self._sent.pop(s))


class TimedClassifier:
    """Wraps the classifier: times ``predict_images`` / ``predict``; everything else as is."""

    def __init__(self, classifier: Any, histogram: Histogram) -> None:
        self._clf = classifier
        self._hist = histogram

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._clf, name)
        if name not in ("predict_images", "predict"):
            return attr
        hist = self._hist

        def timed(*args: Any, **kwargs: Any) -> Any:
            with hist.time():
                return attr(*args, **kwargs)

        return timed


async def metrics_endpoint(request: Any) -> Any:
    from starlette.responses import Response

    return Response(metrics_of(request.app).exposition(), media_type=CONTENT_TYPE_LATEST)
