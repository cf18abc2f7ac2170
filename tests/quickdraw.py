"""Real Quick, Draw! drawings for tests, load generators and browser tests.

    from tests.quickdraw import raw_drawings, point_strokes, update_batches
    d = raw_drawings("cat")[0]                       # Google's raw record (dict)
    strokes = point_strokes(d)                        # [[[x, y, t], ...], ...] canvas px + ms
    for stroke_index, points in update_batches(strokes, batch=16): ...   # what a client sends

The data live in ``/work/shared/data/quickdraw`` (see its README); ``QUICKDRAW_DIR`` overrides.
The drawings are from the Quick, Draw! dataset by Google, CC BY 4.0.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator, Sequence
from functools import cache, lru_cache
from pathlib import Path
from typing import Any

DATA_DIR = Path(
    os.environ.get("QUICKDRAW_DIR")
    or Path(__file__).resolve().parents[2] / "shared" / "data" / "quickdraw"
)

PointStroke = list[list[float]]


@cache
def categories() -> dict[str, Any]:
    return json.loads((DATA_DIR / "categories.json").read_text())


def vocabulary() -> list[str]:
    return list(categories()["vocabulary"])


@lru_cache(maxsize=256)
def _read(kind: str, category: str) -> tuple[dict[str, Any], ...]:
    path = DATA_DIR / kind / f"{category}.ndjson"
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
    test): ``sha256("<category>/i<index>") % 100 < 20`` (``/k<key_id>`` without an index), the
    rule recorded in the artifact's metadata (model/artifacts/*.json, ``data.split``)."""
    index = record.get("index")
    key = f"{category}/i{int(index)}" if index is not None else f"{category}/k{record['key_id']}"
    h = int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big")
    return h % 100 < 20


def recognized_drawings(
    classifier: Any,
    threshold: float,
    per_category: int = 1,
    kind: str = "raw",
    held_out_only: bool = True,
) -> dict[str, list[list[PointStroke]]]:
    """For each vocabulary label: up to ``per_category`` real drawings, held out of the
    model's training, that ``classifier`` labels correctly with probability >= ``threshold``
    (computed on the drawing as the server sees it)."""
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
        li = labels.index(label)
        good = [
            c
            for c, row in zip(candidates, probs, strict=True)
            if int(row.argmax()) == li and float(row[li]) >= threshold
        ]
        if good:
            out[label] = good[:per_category]
    return out
