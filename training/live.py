"""Live replay: a drawing as the server sees it while it is drawn, and what the game does.

Every raw drawing is replayed with its own timings: one update per ``UPDATE_MS`` of drawing
time (the points drawn by the end of each 100 ms window, the partial stroke included), each
update classified through the public model API (:meth:`model.Classifier.predict`).  A
:class:`Replay` keeps what the recognition rule and the figures need; :func:`live_metrics`
applies a rule (:func:`model.recognition.rule_scores`, the rule the server uses) to replays.
"""

from __future__ import annotations

import dataclasses
import math
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from game_server.config import Settings
from model.belief import IDENTITY, Belief, BeliefFilter
from model.classifier import Classifier
from model.recognition import RULE_KINDS, RecognitionRule, RuleKind, rule_scores
from training.data import Split, StrokeDrawing, load_categories, load_strokes, timed_strokes

__all__ = [
    "SETTLE_MS",
    "UPDATE_MS",
    "Replay",
    "best_belief",
    "best_rule",
    "heldout_drawings",
    "live_metrics",
    "live_metrics_by_source",
    "other_categories",
    "prefix_before",
    "replay",
    "smoothed",
    "update_prefixes",
    "wilson",
]

UPDATE_MS = 100.0
#: the server's idle settle (``DOODLE_SETTLE_MS``, its default): a drawing without ink for this
#: long has its belief settled on it
SETTLE_MS = float(Settings().settle_ms)


def prefix_before(
    drawing: Sequence[Sequence[Sequence[float]]], cut_ms: float
) -> list[list[list[float]]]:
    """The points of a timed drawing (strokes ``[xs, ys, ts]``) drawn before ``cut_ms``, as
    ``[xs, ys]`` strokes (a stroke in progress is cut there)."""
    out = []
    for s in drawing:
        t = np.asarray(s[2], dtype=np.float64)
        m = t < cut_ms
        if m.any():
            out.append([list(np.asarray(s[0])[m]), list(np.asarray(s[1])[m])])
    return out


def update_prefixes(
    drawing: Sequence[Sequence[Sequence[float]]], interval_ms: float = UPDATE_MS
) -> list[tuple[float, list[list[list[float]]]]]:
    """``(time ms, drawing so far)`` per update of a timed drawing (strokes ``[xs, ys, ts]``):
    one per ``interval_ms`` window holding points, with every point drawn before the end of
    the window; the time is that of the window's last point."""
    ts = np.concatenate([np.asarray(s[2], dtype=np.float64) for s in drawing] or [np.zeros(0)])
    out = []
    for w in np.unique(np.floor(ts / interval_ms)):
        cut = (w + 1) * interval_ms
        out.append((float(ts[ts < cut].max()), prefix_before(drawing, cut)))
    return out


def other_categories(labels: Sequence[str]) -> list[str]:
    """The categories outside the game vocabulary and ``labels``: drawings no model of the
    game trained on."""
    cats = load_categories()["categories"]
    return sorted(c for c, info in cats.items() if not info.get("vocabulary") and c not in labels)


def heldout_drawings(categories: Sequence[str], splits: Sequence[Split]) -> list[StrokeDrawing]:
    """Stroke drawings of ``categories`` in ``splits`` with timings (:func:`timed_strokes`):
    raw ones, then simplified ones that are not also raw (same ``key_id``)."""
    out: list[StrokeDrawing] = []
    for c in categories:
        raw = [d for d in load_strokes(c, "raw") if d.split in splits]
        keys = {d.key_id for d in raw}
        simp = [d for d in load_strokes(c, "simplified") if d.split in splits]
        for d in raw + [d for d in simp if d.key_id not in keys]:
            d.drawing = timed_strokes(d.drawing, d.source)
            out.append(d)
    return out


@dataclass
class Replay:
    """One drawing replayed: per update its time, stroke count and probabilities (with
    ``settled``, a mask of the rows that are the belief settled on the drawing as it was, not
    live updates, as the server does when the drawing is idle for ``settle_ms`` and at the
    round's end: they count for recognition, with the time of the update they settle)."""

    label: int  # true class index; -1 for a category outside the model's labels
    google_recognized: bool
    source: str  # "raw" (real timings) or "simplified" (synthetic timings)
    times: npt.NDArray[np.float64]  # (U,) ms since the first point
    n_strokes: npt.NDArray[np.int64]  # (U,)
    probs: npt.NDArray[np.float32]  # (U, C)
    settled: npt.NDArray[np.bool_] | None = None  # (U,); None: no settled row

    @property
    def duration(self) -> float:
        return float(self.times[-1])

    @property
    def live_rows(self) -> npt.NDArray[np.bool_]:
        """The mask of the live updates (the rows that are not settled)."""
        return np.ones(len(self.probs), bool) if self.settled is None else ~self.settled

    @property
    def live(self) -> int:
        """The number of live updates."""
        return int(self.live_rows.sum())


def replay(
    clf: Classifier,
    drawings: Sequence[StrokeDrawing],
    label_of: Callable[[str], int],
    chunk: int = 64,
) -> list[Replay]:
    """Replay timed drawings update by update through ``clf.predict`` (``chunk`` drawings'
    updates per call)."""
    out = []
    for i in range(0, len(drawings), chunk):
        part = drawings[i : i + chunk]
        cuts = [update_prefixes(d.drawing) for d in part]
        probs = clf.predict([prefix for c in cuts for _, prefix in c])
        start = 0
        for d, c in zip(part, cuts, strict=True):
            if not c:
                continue
            n = len(c)
            out.append(
                Replay(
                    label=label_of(d.category),
                    google_recognized=d.recognized,
                    source=d.source,
                    times=np.array([t for t, _ in c]),
                    n_strokes=np.array([len(p) for _, p in c]),
                    probs=probs[start : start + n],
                )
            )
            start += n
    return out


def smoothed(
    replays: Sequence[Replay], belief: BeliefFilter, settle_ms: float = SETTLE_MS
) -> list[Replay]:
    """The replays as the player sees them: each drawing's rows through the live belief
    (:class:`model.Belief`, updated at the updates' times), settled on the drawing as it is
    (its row, :meth:`model.Belief.settle`) after every update followed by a pause of at least
    ``settle_ms`` of drawing time (the server's idle settle, ``DOODLE_SETTLE_MS``; ``inf``:
    only the round's end) and after the last one; the next update continues from the settled
    belief.  The identity filter needs no settling."""
    if belief == IDENTITY:
        return list(replays)
    out = []
    for r in replays:
        b = Belief(belief)
        gaps = np.append(np.diff(r.times), math.inf)
        rows, idx, settled = [], [], []
        for u, t in enumerate(r.times.tolist()):
            rows.append(b.update(r.probs[u], t))
            idx.append(u)
            settled.append(False)
            if gaps[u] >= settle_ms:
                rows.append(b.settle(r.probs[u]))
                idx.append(u)
                settled.append(True)
        out.append(
            dataclasses.replace(
                r,
                probs=np.array(rows, dtype=np.float32),
                times=r.times[idx],
                n_strokes=r.n_strokes[idx],
                settled=np.array(settled),
            )
        )
    return out


def wilson(k: float, n: int, z: float = 1.96) -> tuple[float, float]:
    """95% Wilson score interval of a proportion ``k / n``."""
    if n == 0:
        return (math.nan, math.nan)
    p = k / n
    d = 1 + z * z / n
    c = (p + z * z / (2 * n)) / d
    h = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / d
    return (max(0.0, c - h), min(1.0, c + h))


def _bootstrap(values: npt.NDArray[np.float64], stat: Callable[..., Any]) -> list[float]:
    if len(values) == 0:
        return [math.nan, math.nan]
    rng = np.random.default_rng(0)
    boots = [stat(values[rng.integers(0, len(values), len(values))]) for _ in range(1000)]
    return [float(np.percentile(boots, 2.5)), float(np.percentile(boots, 97.5))]


def _rate(hits: npt.NDArray[np.bool_]) -> dict[str, Any]:
    k, n = int(hits.sum()), len(hits)
    return {"n": n, "rate": k / n if n else math.nan, "ci95": list(wilson(k, n))}


def peak_scores(replays: Sequence[Replay], kind: RuleKind) -> npt.NDArray[np.float64]:
    """(drawings, C): per drawing and class the highest rule score over all updates."""
    return np.stack([rule_scores(kind, r.probs).max(axis=0) for r in replays])


def false_recognition(
    peaks: npt.NDArray[np.float64], labels: npt.NDArray[np.int64], threshold: float
) -> npt.NDArray[np.float64]:
    """Per drawing: the fraction of wrong prompts (every model class but its own) that the
    rule would accept at some update."""
    hit = peaks >= threshold
    own = labels >= 0
    hit[own, labels[own]] = False
    wrong = peaks.shape[1] - own.astype(np.int64)
    return hit.sum(axis=1) / wrong


def live_metrics(
    replays: Sequence[Replay],
    rule: RecognitionRule,
    labels: Sequence[str],
    others: Sequence[Replay] = (),
) -> dict[str, Any]:
    """The game's figures on vocabulary drawings ``replays`` (prompt = their category) and
    the false recognition on them (every wrong prompt) and on ``others`` (drawings of
    categories outside the vocabulary, every prompt).  ``recognition`` counts every row
    (a settled one too: recognized while drawing or within ``settle_ms`` of a pause or of
    stopping, at the settled update's time), ``recognition_live`` the live updates only
    (recognized while drawing); top-1 changes and first guesses are over live updates."""
    rec, rec_live, t_ms, frac, changes = [], [], [], [], []
    for r in replays:
        fired = rule_scores(rule.kind, r.probs)[:, r.label] >= rule.threshold
        rec.append(bool(fired.any()))
        rec_live.append(bool(fired[r.live_rows].any()))
        if fired.any():
            u = int(fired.argmax())
            t_ms.append(r.times[u])
            frac.append(r.times[u] / max(r.duration, 1.0))
        top = r.probs[r.live_rows].argmax(axis=1)
        changes.append(int((top[1:] != top[:-1]).sum()))
    hits = np.array(rec)
    google = np.array([r.google_recognized for r in replays])
    y = np.array([r.label for r in replays])
    frr_in = false_recognition(peak_scores(replays, rule.kind), y, rule.threshold)
    res: dict[str, Any] = {
        "rule": rule.to_json(),
        "recognition": _rate(hits),
        "recognition_live": _rate(np.array(rec_live)),
        "google_recognition": _rate(google),
        "recognition_google_recognized": _rate(hits[google]),
        "recognition_google_unrecognized": _rate(hits[~google]),
        "time_to_recognition_ms": {
            "median": float(np.median(t_ms)) if t_ms else math.nan,
            "ci95": _bootstrap(np.array(t_ms), np.median),
        },
        "time_to_recognition_fraction": {
            "median": float(np.median(frac)) if frac else math.nan,
            "ci95": _bootstrap(np.array(frac), np.median),
        },
        "false_recognition_wrong_prompt": {
            "n": len(frr_in),
            "rate": float(frr_in.mean()),
            "ci95": _bootstrap(frr_in, np.mean),
        },
        "updates_per_drawing": float(np.mean([r.live for r in replays])),
        "top1_changes_per_drawing": {
            "mean": float(np.mean(changes)),
            "median": float(np.median(changes)),
        },
        "first_guess": _first_guesses(replays, labels),
    }
    if others:
        peaks = peak_scores(others, rule.kind)
        frr_out = false_recognition(peaks, np.full(len(others), -1), rule.threshold)
        res["false_recognition_other_categories"] = {
            "n": len(frr_out),
            "rate": float(frr_out.mean()),
            "ci95": _bootstrap(frr_out, np.mean),
        }
    return res


def live_metrics_by_source(
    replays: Sequence[Replay],
    rule: RecognitionRule,
    labels: Sequence[str],
    others: Sequence[Replay] = (),
) -> dict[str, Any]:
    """:func:`live_metrics` on the raw drawings (real timings), the simplified ones
    (synthetic timings) and both."""
    out: dict[str, Any] = {}
    for name, keep in (("raw", {"raw"}), ("simplified", {"simplified"}), ("all", None)):
        part = [r for r in replays if keep is None or r.source in keep]
        out[name] = live_metrics(part, rule, labels, others)
    return out


def _first_guesses(replays: Sequence[Replay], labels: Sequence[str]) -> dict[str, Any]:
    """Top-1 at the first update, and on the whole first stroke (the last 1-stroke update):
    the most frequent class, its share, and the mean top probability."""
    out: dict[str, Any] = {}
    for name, pick in (
        ("first_update", lambda r: 0),
        ("first_stroke", lambda r: int((r.n_strokes[r.live_rows] == 1).sum()) - 1),
    ):
        rows = [r.probs[r.live_rows][pick(r)] for r in replays if pick(r) >= 0]
        top = Counter(int(p.argmax()) for p in rows)
        cls, count = top.most_common(1)[0]
        out[name] = {
            "n": len(rows),
            "most_frequent": labels[cls],
            "share": count / len(rows),
            "mean_top_p": float(np.mean([p.max() for p in rows])),
        }
    return out


def best_rule(
    replays: Sequence[Replay], others: Sequence[Replay], max_false: float
) -> tuple[RecognitionRule, dict[str, Any]]:
    """The rule (kind and threshold) with the highest recognition on ``replays`` whose false
    recognition (wrong prompts on ``replays``, every prompt on ``others``) is at most
    ``max_false``: for each kind the lowest threshold (3 decimals) that keeps both rates
    within it, i.e. just above one of the wrong prompts' peak scores."""
    y = np.array([r.label for r in replays])
    no_label = np.full(len(others), -1)
    found: dict[str, Any] = {}
    best: tuple[float, RecognitionRule] | None = None
    for kind in RULE_KINDS:
        peaks_in, peaks_out = peak_scores(replays, kind), peak_scores(others, kind)
        own = peaks_in[np.arange(len(y)), y]
        wrong = peaks_in.copy()
        wrong[np.arange(len(y)), y] = 0.0
        critical = np.unique(np.concatenate([[0.0], wrong.ravel(), peaks_out.ravel()]))

        def above(c: float) -> float:
            # the next round threshold above c (a float32 peak such as 0.9f is just below
            # 0.9 in float64 but equal to it where the float32 rows are compared)
            return math.floor(c * 1000 + 1e-4) / 1000 + 0.001

        def ok(t: float, peaks_in=peaks_in, peaks_out=peaks_out) -> bool:
            return bool(
                false_recognition(peaks_in, y, t).mean() <= max_false
                and false_recognition(peaks_out, no_label, t).mean() <= max_false
            )

        # bisection: false recognition falls as the threshold rises
        lo, hi = 0, len(critical) - 1
        if above(critical[hi]) > 1.0 or not ok(above(critical[hi])):
            continue
        while lo < hi:
            mid = (lo + hi) // 2
            if ok(above(critical[mid])):
                hi = mid
            else:
                lo = mid + 1
        t = above(critical[lo])
        rate = float((own >= t).mean())
        found[kind] = {"threshold": t, "recognition": rate}
        if best is None or rate > best[0]:
            best = (rate, RecognitionRule(kind=kind, threshold=t))
    if best is None:
        raise ValueError(f"no rule keeps false recognition within {max_false}")
    return best[1], found


#: the belief filters :func:`best_belief` tries: time constants in ms of drawing time
BELIEF_TAUS_MS = (0.0, 100.0, 200.0, 300.0, 500.0, 800.0, 1200.0)


def best_belief(
    replays: Sequence[Replay],
    others: Sequence[Replay],
    max_false: float,
    taus_ms: Sequence[float] = BELIEF_TAUS_MS,
    tolerance: float = 0.01,
) -> tuple[BeliefFilter, RecognitionRule, dict[str, Any]]:
    """The belief filter and rule calibrated together: for each time constant the rule of
    :func:`best_rule` on the filtered replays (false recognition at most ``max_false``, the
    settled belief included) and its live recognition (while drawing, :func:`live_metrics`'
    ``recognition_live``) on the replays with real timings (``raw``; all of them if there are
    none); then, of the filters whose live recognition is within ``tolerance`` of the best
    one (a difference of a drawing or two is noise), the one with the fewest top-1 changes
    per drawing.  Returns the filter, its rule and every candidate's figures (keyed by
    ``tau_ms``)."""
    found: dict[str, Any] = {}
    rules: dict[str, tuple[BeliefFilter, RecognitionRule]] = {}
    for tau in taus_ms:
        belief = BeliefFilter(float(tau))
        mine = smoothed(replays, belief)
        try:
            rule, kinds = best_rule(mine, smoothed(others, belief), max_false)
        except ValueError:
            continue
        real = [r for r in mine if r.source == "raw"] or mine
        m = live_metrics(real, rule, [str(i) for i in range(real[0].probs.shape[1])])
        key = str(belief.tau_ms)
        rules[key] = (belief, rule)
        found[key] = {
            **rule.to_json(),
            "recognition_live_raw": m["recognition_live"]["rate"],
            "recognition_raw": m["recognition"]["rate"],
            "recognition_all": kinds[rule.kind]["recognition"],
            "top1_changes_raw": m["top1_changes_per_drawing"]["mean"],
        }
    if not found:
        raise ValueError(f"no rule keeps false recognition within {max_false}")
    top = max(c["recognition_live_raw"] for c in found.values())
    near = [k for k, c in found.items() if c["recognition_live_raw"] >= top - tolerance - 1e-12]
    best = min(
        near, key=lambda k: (found[k]["top1_changes_raw"], -found[k]["recognition_live_raw"])
    )
    return (*rules[best], found)
