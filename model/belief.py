"""The live belief: one player's probabilities smoothed over the updates of their drawing.

The server classifies the same drawing again every time it grows (about every 100 ms), and
each row of :meth:`model.Classifier.predict` is noisy: the top guess flickers, and a wrong
class can score high for one update.  :class:`Belief` filters the successive rows of one
drawing: an exponential moving average of the log-probabilities, weighted by the drawing's
own time (the ``t`` of its latest point), renormalized::

    L <- w * L + (1 - w) * log(p),   w = exp(-dt / tau_ms),   belief = softmax(L)

* the first row after :meth:`Belief.reset` (a new drawing, ``clear``, undo to empty) is the
  belief as it is;
* ``dt`` is the drawing time since the previous update (never negative: a clock that goes
  back, e.g. after an undo, adds no time), so the filter does not depend on how often the
  drawing is classified;
* a row held constant is the belief's fixed point; after a change the belief moves towards
  it monotonically (its KL divergence to the row falls);
* :meth:`Belief.settle`: when the drawing is finished (the round's end), the belief settles
  on its last row, as it would if the player paused long enough;
* ``tau_ms == 0`` is the identity (artifacts calibrated before the filter existed).

The parameters (:class:`BeliefFilter`) are calibrated together with the recognition rule
(``python -m training calibrate``) and stored next to it in the artifact's metadata
(``recognition.belief``); the rule (:meth:`model.Classifier.recognizes`) applies to the
filtered belief.  Pure numpy, no I/O, the clock passed in.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = ["IDENTITY", "Belief", "BeliefFilter", "update_beliefs"]

_FLOOR = 1e-12  # probabilities below it count as it (log of a float32 underflow to 0)


@dataclass(frozen=True)
class BeliefFilter:
    """The filter's parameters: ``tau_ms``, the time constant of the moving average in ms of
    drawing time (0: no filtering)."""

    tau_ms: float = 0.0

    def __post_init__(self) -> None:
        if not (math.isfinite(self.tau_ms) and self.tau_ms >= 0):
            raise ValueError(f"belief time constant {self.tau_ms} is not a non-negative number")

    def to_json(self) -> dict[str, Any]:
        return {"filter": "log_ema", "tau_ms": self.tau_ms}

    @classmethod
    def from_json(cls, d: Mapping[str, Any] | None) -> BeliefFilter:
        """The parameters of a metadata section (``None``: the identity)."""
        if d is None:
            return IDENTITY
        if d.get("filter") != "log_ema":
            raise ValueError(f"unknown belief filter {d.get('filter')!r}")
        return cls(tau_ms=float(d["tau_ms"]))

    def run(self, probs: npt.ArrayLike, times: npt.ArrayLike) -> npt.NDArray[np.float64]:
        """The belief after each of the rows ``probs`` (U, C) of one drawing, updated at
        ``times`` (U,) ms: what :meth:`Belief.update` returns, row by row."""
        belief = Belief(self)
        rows = np.asarray(probs)
        out = np.empty(rows.shape, dtype=np.float64)
        for u, t in enumerate(np.asarray(times, dtype=np.float64).tolist()):
            out[u] = belief.update(rows[u], t)
        return out


IDENTITY = BeliefFilter(0.0)


class Belief:
    """One player's belief about their drawing, fed one probability row per update."""

    def __init__(self, params: BeliefFilter = IDENTITY) -> None:
        self.params = params
        self._log: npt.NDArray[np.float64] | None = None
        self._t = 0.0

    def reset(self) -> None:
        """Forget the drawing (a new drawing, ``clear``, undo to empty)."""
        self._log = None

    def update(self, probs: npt.ArrayLike, t_ms: float) -> npt.NDArray[np.float64]:
        """Feed one row of probabilities of the drawing as of its time ``t_ms`` (the latest
        point's own ``t``); return the belief, a row of probabilities summing to 1 (with the
        identity filter: the row itself)."""
        row = np.asarray(probs, dtype=np.float64)
        if row.ndim != 1:
            raise ValueError(f"expected one row of probabilities, got shape {row.shape}")
        return update_beliefs([self], row[None], [t_ms])[0]

    def settle(self, probs: npt.ArrayLike) -> npt.NDArray[np.float64]:
        """The drawing is finished: the belief becomes its row ``probs`` (returned)."""
        row = np.asarray(probs, dtype=np.float64)
        if row.ndim != 1:
            raise ValueError(f"expected one row of probabilities, got shape {row.shape}")
        if self.params.tau_ms != 0:
            self._log = np.log(np.maximum(row, _FLOOR))
        return row


def update_beliefs(
    beliefs: Sequence[Belief], probs: npt.ArrayLike, times_ms: Sequence[float]
) -> npt.NDArray[np.float64]:
    """:meth:`Belief.update` of every ``beliefs[i]`` with the row ``probs[i]`` at
    ``times_ms[i]``, vectorized over the batch (the server updates a tick's beliefs at once);
    returns the beliefs (N, C)."""
    rows = np.asarray(probs, dtype=np.float64)
    if rows.ndim != 2 or rows.shape[0] != len(beliefs) or len(times_ms) != len(beliefs):
        raise ValueError(f"expected {len(beliefs)} rows and times, got shape {rows.shape}")
    idx = [i for i, b in enumerate(beliefs) if b.params.tau_ms != 0]
    if not idx:
        return rows.copy()
    every = len(idx) == len(beliefs)
    log = np.log(np.maximum(rows if every else rows[idx], _FLOOR))
    prev = np.zeros_like(log)
    w = np.zeros((len(idx), 1))
    for k, i in enumerate(idx):
        b, t = beliefs[i], float(times_ms[i])
        if b._log is None or b._log.shape != log[k].shape:
            b._t = t  # the first row after a reset: the belief as it is (w = 0)
        else:
            w[k] = math.exp(-max(t - b._t, 0.0) / b.params.tau_ms)
            prev[k] = b._log
            b._t = max(b._t, t)
    state = w * prev + (1.0 - w) * log
    for k, i in enumerate(idx):
        beliefs[i]._log = state[k]
    e = np.exp(state - state.max(axis=1, keepdims=True))
    e /= e.sum(axis=1, keepdims=True)
    if every:
        return e
    out = rows.copy()
    out[idx] = e
    return out
