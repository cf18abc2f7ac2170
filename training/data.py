"""Quick, Draw! data access, deterministic splits and dataset assembly.

Splits are by drawing: a simplified drawing with ``index`` i, the raw drawing with
``index`` i and Google bitmap row i of the same category are the same drawing and always
land in the same split (hash of ``category/index``).  Stretched renders (only ``key_id``
known) are training-only; those whose ``key_id`` belongs to a held-out stroke drawing are
dropped.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

__all__ = [
    "SPLITS",
    "StrokeDrawing",
    "data_dir",
    "load_bitmaps",
    "load_categories",
    "load_stretched",
    "load_strokes",
    "split_of",
    "subset_rank",
    "timed_strokes",
    "vocabulary",
]

Split = Literal["train", "val", "test"]
SPLITS: tuple[Split, ...] = ("train", "val", "test")
#: percentage of drawings in validation and test (by hash), the rest is training
VAL_PCT = 10
TEST_PCT = 10

REPO_ROOT = Path(__file__).resolve().parents[1]


def data_dir() -> Path:
    """The Quick, Draw! data folder: ``$QUICKDRAW_DATA`` or ``<repo>/../shared/data/quickdraw``."""
    env = os.environ.get("QUICKDRAW_DATA")
    if env:
        return Path(env)
    return REPO_ROOT.parent / "shared" / "data" / "quickdraw"


def load_categories(root: Path | None = None) -> dict[str, Any]:
    return json.loads(((root or data_dir()) / "categories.json").read_text())


def vocabulary(root: Path | None = None) -> list[str]:
    """The game vocabulary: categories flagged ``vocabulary: true``, sorted."""
    return list(_vocabulary(root or data_dir()))


@cache
def _vocabulary(root: Path) -> tuple[str, ...]:
    cats = load_categories(root)["categories"]
    return tuple(sorted(name for name, info in cats.items() if info.get("vocabulary")))


def _key(category: str, index: int | None, key_id: str | int | None) -> str:
    if index is not None:
        return f"{category}/i{int(index)}"
    return f"{category}/k{key_id}"


def split_of(category: str, index: int | None, key_id: str | int | None = None) -> Split:
    """Deterministic split of a drawing, identical across formats (by index, else key_id)."""
    h = int.from_bytes(hashlib.sha256(_key(category, index, key_id).encode()).digest()[:8], "big")
    r = h % 100
    if r < TEST_PCT:
        return "test"
    if r < TEST_PCT + VAL_PCT:
        return "val"
    return "train"


def subset_rank(category: str, index: int | None, key_id: str | int | None = None) -> float:
    """A drawing's place in [0, 1) for nested training subsets (``--train-fraction F`` keeps
    the training drawings whose rank is below F): a hash of the same key as
    :func:`split_of` (index, else key_id), salted so that it is independent of the split, so
    every format of a drawing has the same rank and a smaller subset is inside a larger one."""
    key = "subset|" + _key(category, index, key_id)
    return int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big") / 2.0**64


@dataclass
class StrokeDrawing:
    category: str
    index: int | None
    key_id: str
    source: Literal["simplified", "raw"]
    drawing: list[Any]
    recognized: bool = True
    split: Split = field(default="train")


def load_strokes(
    category: str, source: Literal["simplified", "raw"], root: Path | None = None
) -> list[StrokeDrawing]:
    path = (root or data_dir()) / source / f"{category}.ndjson"
    out: list[StrokeDrawing] = []
    if not path.exists():
        return out
    with open(path) as f:
        for line in f:
            if not line.strip():
                continue
            d = json.loads(line)
            index = d.get("index")
            key_id = str(d["key_id"])
            out.append(
                StrokeDrawing(
                    category=category,
                    index=None if index is None else int(index),
                    key_id=key_id,
                    source=source,
                    drawing=d["drawing"],
                    recognized=bool(d.get("recognized", True)),
                    split=split_of(category, index, key_id),
                )
            )
    return out


def load_bitmaps(
    category: str, root: Path | None = None
) -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.int64]]:
    """Google bitmaps (N, 784) uint8 and their row numbers (= drawing index)."""
    path = (root or data_dir()) / "bitmaps" / f"{category}.npz"
    if not path.exists():
        return np.zeros((0, 784), dtype=np.uint8), np.zeros(0, dtype=np.int64)
    with np.load(path) as z:
        return z["images"].astype(np.uint8), z["rows"].astype(np.int64)


def load_stretched(
    category: str, root: Path | None = None
) -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.int64]]:
    path = (root or data_dir()) / "bitmaps_stretched" / f"{category}.npz"
    if not path.exists():
        return np.zeros((0, 784), dtype=np.uint8), np.zeros(0, dtype=np.int64)
    with np.load(path) as z:
        return z["images"].astype(np.uint8), z["key_ids"].astype(np.int64)


def timed_strokes(drawing: list[Any], source: str) -> list[list[list[float]]]:
    """Strokes ``[xs, ys, ts]`` (ms since the first point): the raw drawing's own timings, or
    for a simplified drawing (no timings) 10 ms per point and 150 ms between strokes."""
    if source == "raw":
        return [[list(s[0]), list(s[1]), list(s[2])] for s in drawing if len(s) >= 3 and s[0]]
    out, t = [], 0.0
    for s in drawing:
        if not s[0]:
            continue
        ts = [t + 10.0 * i for i in range(len(s[0]))]
        t = ts[-1] + 150.0  # pen-up pause between strokes
        out.append([list(s[0]), list(s[1]), ts])
    return out


def fingerprint(paths: Sequence[Path]) -> str:
    """sha256 over the names, sizes and contents' hashes of the given data files."""
    h = hashlib.sha256()
    for p in sorted(paths):
        h.update(p.name.encode())
        h.update(hashlib.sha256(p.read_bytes()).digest())
    return h.hexdigest()
