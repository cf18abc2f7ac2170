"""Real Quick, Draw! drawings for tests, load generators and browser tests.

    from tests.quickdraw import raw_drawings, point_strokes, update_batches
    d = raw_drawings("cat")[0]                       # Google's raw record (dict)
    strokes = point_strokes(d)                        # [[[x, y, t], ...], ...] canvas px + ms
    for stroke_index, points in update_batches(strokes, batch=16): ...   # what a client sends

The data folder and the train/validation/test split come from :mod:`training.data`
(``$QUICKDRAW_DATA``, default ``<repo>/../shared/data/quickdraw``).
The drawings are from the Quick, Draw! dataset by Google, CC BY 4.0.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from functools import lru_cache
from typing import Any

import numpy as np

from training.data import data_dir, split_of

PointStroke = list[list[float]]


@lru_cache(maxsize=256)
def _read(kind: str, category: str) -> tuple[dict[str, Any], ...]:
    path = data_dir() / kind / f"{category}.ndjson"
    if not path.exists():
        return ()
    with path.open() as f:
        return tuple(json.loads(line) for line in f if line.strip())


def raw_drawings(category: str) -> list[dict[str, Any]]:
    """Google's raw records (strokes ``[[xs], [ys], [ts]]`` in canvas px / ms)."""
    return list(_read("raw", category))


def simplified_drawings(category: str) -> list[dict[str, Any]]:
    """Google's simplified records (strokes ``[[xs], [ys]]`` in 0..255)."""
    return list(_read("simplified", category))


def point_strokes(record: dict[str, Any], ms_per_point: float = 10.0) -> list[PointStroke]:
    """A record's drawing as strokes of ``[x, y, t]`` points, ``t`` in ms from the first point
    (the raw timings, or ``ms_per_point`` spacing for simplified drawings)."""
    out: list[PointStroke] = []
    t = 0.0
    for stroke in record["drawing"]:
        xs, ys = stroke[0], stroke[1]
        ts = stroke[2] if len(stroke) > 2 else None
        pts = []
        for i, (x, y) in enumerate(zip(xs, ys, strict=True)):
            if ts is not None:
                t = float(ts[i])
            else:
                t += ms_per_point
            pts.append([round(float(x), 2), round(float(y), 2), max(0.0, round(t, 2))])
        if pts:
            out.append(pts)
    return out


def update_batches(
    strokes: Sequence[PointStroke], batch: int = 16
) -> Iterator[tuple[int, PointStroke]]:
    """Split strokes into ``(stroke_index, points)`` updates as a client streams them."""
    for index, stroke in enumerate(strokes):
        for start in range(0, len(stroke), batch):
            yield index, stroke[start : start + batch]


def model_drawing(strokes: Sequence[PointStroke]) -> list[list[list[float]]]:
    """``[x, y, t]`` point strokes -> the model's ``[[xs], [ys], [ts]]`` strokes."""
    return [[[p[0] for p in s], [p[1] for p in s], [p[2] for p in s]] for s in strokes]


def held_out(category: str, record: dict[str, Any]) -> bool:
    """Whether the model's training split kept this drawing out of training (validation or
    test), by :func:`training.data.split_of`."""
    return split_of(category, record.get("index"), record["key_id"]) != "train"


def surely_recognized_live(
    classifier: Any, strokes: Sequence[PointStroke], label: str, batch: int = 16
) -> bool:
    """Whether the server recognizes ``strokes`` as ``label`` while they are drawn, sent in
    updates of ``batch`` points (:func:`update_batches`), however its ticks group those
    updates: a lower bound on the live belief (:class:`model.Belief`) after the last update.

    The belief is a weighted geometric mean of the rows, renormalized, so (Hölder) its
    ``label`` probability is at least the weighted geometric mean of the rows' ``label``
    probabilities. Rows older than the update at time ``t0`` weigh at most
    ``exp(-(t_end - t0) / tau)`` in total, whichever updates the server saw. (The round's
    end settles the belief on the finished drawing: :meth:`model.Belief.settle`.)"""
    rule, tau = classifier.rule, classifier.belief.tau_ms
    if rule.kind != "target":  # the bound is on the label's probability
        return False
    prefixes, times, drawn = [], [], [list(s) for s in strokes]
    cut: list[PointStroke] = []
    for index, points in update_batches(drawn, batch):
        if index == len(cut):
            cut.append([])
        cut[index] = cut[index] + points
        prefixes.append(model_drawing(cut))
        times.append(float(points[-1][2]))
    p = classifier.predict(prefixes)[:, classifier.labels.index(label)].astype(np.float64)
    p = np.maximum(p, 1e-12)
    for j in range(len(p)):  # the tail: updates j.. (j = 0: no older rows)
        tail = float(p[j:].min())
        old = 0.0 if j == 0 or tau == 0 else float(np.exp(-(times[-1] - times[j - 1]) / tau))
        head = min(float(p[:j].min()), tail) if j else tail
        if tail ** (1 - old) * head**old >= rule.threshold + 1e-9:
            return True
    return False


def recognized_drawings(
    classifier: Any,
    per_category: int = 1,
    kind: str = "raw",
    held_out_only: bool = True,
) -> dict[str, list[list[PointStroke]]]:
    """For each vocabulary label: up to ``per_category`` real drawings, held out of the
    model's training, that ``classifier`` recognizes as their label while they are drawn
    (:func:`surely_recognized_live`: its recognition rule on its live belief, in updates of
    16 points however the server's ticks group them)."""
    labels = list(classifier.labels)
    out: dict[str, list[list[PointStroke]]] = {}
    for label in labels:
        records = raw_drawings(label) if kind == "raw" else simplified_drawings(label)
        records = [r for r in records if not held_out_only or held_out(label, r)]
        candidates = [point_strokes(r) for r in records if r.get("recognized", True)]
        candidates = [c for c in candidates if c]
        if not candidates:
            continue
        probs = classifier.predict([model_drawing(c) for c in candidates])
        finished = [
            c for c, row in zip(candidates, probs, strict=True) if classifier.recognizes(row, label)
        ]
        good = []
        for c in finished:
            if len(good) < per_category and surely_recognized_live(classifier, c, label):
                good.append(c)
        if good:
            out[label] = good
    return out
