"""Assemble training pools and held-out sets from all formats, split by drawing."""

from __future__ import annotations

import hashlib
import os
from concurrent.futures import ProcessPoolExecutor
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from tqdm import tqdm

from model.raster import RASTER_VERSION, drawings_to_images
from training.augment import StrokeAug, render_augmented
from training.data import (
    StrokeDrawing,
    data_dir,
    fingerprint,
    load_bitmaps,
    load_categories,
    load_stretched,
    load_strokes,
    split_of,
    subset_rank,
    timed_strokes,
)

__all__ = ["SRC_BITMAP", "SRC_STRETCHED", "SRC_STROKE", "Corpus", "HeldOut", "build_corpus"]

SRC_BITMAP, SRC_STROKE, SRC_STRETCHED = 0, 1, 2
SRC_NAMES = {SRC_BITMAP: "bitmap", SRC_STROKE: "stroke", SRC_STRETCHED: "stretched"}


@dataclass
class HeldOut:
    """Held-out images (each drawing once) plus the stroke drawings among them."""

    x: npt.NDArray[np.uint8]
    y: npt.NDArray[np.int64]
    src: npt.NDArray[np.int8]
    strokes: list[StrokeDrawing] = field(default_factory=list)
    stroke_labels: npt.NDArray[np.int64] = field(default_factory=lambda: np.zeros(0, np.int64))


@dataclass
class Corpus:
    labels: list[str]
    # training pool (before stroke augmentation)
    x: npt.NDArray[np.uint8]
    y: npt.NDArray[np.int64]
    src: npt.NDArray[np.int8]
    train_strokes: list[StrokeDrawing]
    train_stroke_labels: npt.NDArray[np.int64]
    val: HeldOut
    test: HeldOut
    fingerprint: str
    counts: dict[str, Any]


def _render_all(drawings: list[StrokeDrawing], desc: str) -> npt.NDArray[np.uint8]:
    out = np.zeros((len(drawings), 784), dtype=np.uint8)
    step = 256
    for i in tqdm(
        range(0, len(drawings), step), desc=desc, leave=False, disable=len(drawings) < 2000
    ):
        chunk = [d.drawing for d in drawings[i : i + step]]
        out[i : i + len(chunk)] = drawings_to_images(chunk).reshape(len(chunk), -1)
    return out


def _subsample(n: int, limit: int | None) -> npt.NDArray[np.intp]:
    idx = np.arange(n)
    return idx if limit is None or n <= limit else idx[:limit]


def _in_subset(cat: str, index: int | None, key_id: str | None, fraction: float) -> bool:
    return fraction == 1.0 or subset_rank(cat, index, key_id) < fraction


def _subset_mask(
    cat: str, keys: list[tuple[int | None, str | None]], fraction: float
) -> npt.NDArray[np.bool_]:
    return np.array([_in_subset(cat, i, k, fraction) for i, k in keys], dtype=bool)


def build_corpus(
    labels: list[str],
    root: Path | None = None,
    max_per_class: int | None = None,
    use_stretched: bool = True,
    use_raw: bool = True,
    render_train: bool = True,
    train_fraction: float = 1.0,
) -> Corpus:
    """Load every format of ``labels`` and split by drawing (see :mod:`training.data`).

    ``render_train=False`` leaves the training stroke renders blank (evaluation only).
    ``max_per_class`` caps the bitmaps, stretched renders and stroke drawings per class and
    source (first ones in file order), for quick runs and tests.  ``train_fraction`` F keeps
    the training drawings whose :func:`training.data.subset_rank` is below F (every format of
    a drawing together; a stretched render by the index of its stroke drawing when known,
    else its key_id): nested subsets for a learning curve; validation and test are unchanged.
    """
    if not 0.0 < train_fraction <= 1.0:
        raise ValueError(f"train_fraction must be in (0, 1], not {train_fraction}")
    root = root or data_dir()
    cats = load_categories(root)["categories"]
    xs: list[np.ndarray] = []
    ys: list[np.ndarray] = []
    srcs: list[np.ndarray] = []
    train_strokes: list[StrokeDrawing] = []
    train_stroke_labels: list[int] = []
    held: dict[str, dict[str, list[Any]]] = {
        s: {"x": [], "y": [], "src": [], "strokes": [], "stroke_labels": []}
        for s in ("val", "test")
    }
    counts: dict[str, Any] = {"per_class": {}}
    files: list[Path] = []
    for label_id, cat in enumerate(tqdm(labels, desc="loading data", leave=False)):
        if cat not in cats:
            raise KeyError(f"unknown category {cat!r}")
        c: dict[str, int] = {}
        # stroke drawings: simplified + raw; held-out deduplicated by key_id
        strokes: list[StrokeDrawing] = []
        for source in ("simplified", "raw") if use_raw else ("simplified",):
            p = root / source / f"{cat}.ndjson"
            if p.exists():
                files.append(p)
            loaded = load_strokes(cat, source, root)  # type: ignore[arg-type]
            loaded = [loaded[i] for i in _subsample(len(loaded), max_per_class)]
            strokes.extend(loaded)
        seen_keys: set[str] = set()
        heldout_keys: set[str] = set()
        heldout_index: set[int] = set()
        index_of = {d.key_id: d.index for d in strokes}
        for d in strokes:
            if d.split == "train":
                if not _in_subset(cat, d.index, d.key_id, train_fraction):
                    continue
                train_strokes.append(d)
                train_stroke_labels.append(label_id)
                c["train_stroke"] = c.get("train_stroke", 0) + 1
                continue
            heldout_keys.add(d.key_id)
            if d.key_id in seen_keys:
                continue  # same drawing in simplified and raw: count it once
            seen_keys.add(d.key_id)
            if d.index is not None:
                heldout_index.add(d.index)
            h = held[d.split]
            h["strokes"].append(d)
            h["stroke_labels"].append(label_id)
            c[f"{d.split}_stroke"] = c.get(f"{d.split}_stroke", 0) + 1
        # Google bitmaps, split by row (= index)
        imgs, rows = load_bitmaps(cat, root)
        if len(rows):
            files.append(root / "bitmaps" / f"{cat}.npz")
        sel = _subsample(len(rows), max_per_class)
        imgs, rows = imgs[sel], rows[sel]
        splits = np.array([split_of(cat, int(r)) for r in rows])
        tr = (splits == "train") & _subset_mask(cat, [(int(r), None) for r in rows], train_fraction)
        xs.append(imgs[tr])
        ys.append(np.full(int(tr.sum()), label_id))
        srcs.append(np.full(int(tr.sum()), SRC_BITMAP, dtype=np.int8))
        c["train_bitmap"] = int(tr.sum())
        for s in ("val", "test"):
            m = (splits == s) & ~np.isin(rows, list(heldout_index))  # stroke version used
            held[s]["x"].append(imgs[m])
            held[s]["y"].append(np.full(int(m.sum()), label_id))
            held[s]["src"].append(np.full(int(m.sum()), SRC_BITMAP, dtype=np.int8))
            c[f"{s}_bitmap"] = int(m.sum())
        # stretched renders: training side only, minus held-out stroke drawings' key_ids
        if use_stretched:
            simgs, keys = load_stretched(cat, root)
            if len(keys):
                files.append(root / "bitmaps_stretched" / f"{cat}.npz")
            sel = _subsample(len(keys), max_per_class)
            simgs, keys = simgs[sel], keys[sel]
            keep = ~np.isin(keys.astype(str), list(heldout_keys))
            keep &= _subset_mask(
                cat, [(index_of.get(str(k)), str(k)) for k in keys], train_fraction
            )
            xs.append(simgs[keep])
            ys.append(np.full(int(keep.sum()), label_id))
            srcs.append(np.full(int(keep.sum()), SRC_STRETCHED, dtype=np.int8))
            c["train_stretched"] = int(keep.sum())
        counts["per_class"][cat] = c

    # unaugmented renders of training stroke drawings join the pool
    train_x = (
        _render_all(train_strokes, "render train strokes")
        if render_train
        else np.zeros((len(train_strokes), 784), dtype=np.uint8)
    )
    xs.append(train_x)
    ys.append(np.asarray(train_stroke_labels, dtype=np.int64))
    srcs.append(np.full(len(train_strokes), SRC_STROKE, dtype=np.int8))

    def held_out(s: str) -> HeldOut:
        h = held[s]
        sx = _render_all(h["strokes"], f"render {s} strokes")
        return HeldOut(
            x=np.concatenate([*h["x"], sx]).astype(np.uint8),
            y=np.concatenate([*h["y"], np.asarray(h["stroke_labels"], dtype=np.int64)]).astype(
                np.int64
            ),
            src=np.concatenate(
                [*h["src"], np.full(len(h["strokes"]), SRC_STROKE, dtype=np.int8)]
            ).astype(np.int8),
            strokes=h["strokes"],
            stroke_labels=np.asarray(h["stroke_labels"], dtype=np.int64),
        )

    val, test = held_out("val"), held_out("test")
    subset = f"|frac={train_fraction}" if train_fraction < 1.0 else ""
    fp = hashlib.sha256(
        (
            fingerprint(files) + f"|max={max_per_class}|raw={use_raw}|str={use_stretched}{subset}"
        ).encode()
    ).hexdigest()
    totals: dict[str, int] = {}
    for c in counts["per_class"].values():
        for k, v in c.items():
            totals[k] = totals.get(k, 0) + v
    counts["total"] = totals
    return Corpus(
        labels=list(labels),
        x=np.concatenate(xs).astype(np.uint8),
        y=np.concatenate(ys).astype(np.int64),
        src=np.concatenate(srcs).astype(np.int8),
        train_strokes=train_strokes,
        train_stroke_labels=np.asarray(train_stroke_labels, dtype=np.int64),
        val=val,
        test=test,
        fingerprint=fp,
        counts=counts,
    )


def _render_job(
    args: tuple[list[Any], int, int, StrokeAug],
) -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.float32]]:
    drawing, seed, variants, cfg = args
    return render_augmented(drawing, seed, variants, cfg)


def augmented_stroke_pool(
    corpus: Corpus,
    variants: int,
    cfg: StrokeAug,
    seed: int,
    workers: int = 2,
    cache_dir: Path | None = None,
    progress: bool = True,
) -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.int64], npt.NDArray[np.float32]]:
    """``variants`` stroke-augmented renders of every training stroke drawing (cached), their
    labels and the fraction of the drawing's time each render covers."""
    n = len(corpus.train_strokes)
    if variants <= 0 or n == 0:
        return np.zeros((0, 784), np.uint8), np.zeros(0, np.int64), np.zeros(0, np.float32)
    key = hashlib.sha256(
        f"{corpus.fingerprint}|{variants}|{cfg}|{seed}|{RASTER_VERSION}|{n}|fraction".encode()
    ).hexdigest()[:16]
    cache = (cache_dir / f"strokepool-{key}.npz") if cache_dir else None
    labels = np.repeat(corpus.train_stroke_labels, variants)
    if cache is not None and cache.exists():
        with np.load(cache) as z:
            return z["x"], labels, z["fraction"]
    jobs = []
    for d in corpus.train_strokes:
        s = int.from_bytes(
            hashlib.sha256(f"{seed}|{d.source}|{d.category}|{d.key_id}".encode()).digest()[:8],
            "big",
        )
        jobs.append((timed_strokes(d.drawing, d.source), s, variants, cfg))
    out = np.zeros((n * variants, 784), dtype=np.uint8)
    fraction = np.ones(n * variants, dtype=np.float32)
    workers = max(1, min(workers, os.cpu_count() or 1))
    bar = tqdm(total=n, desc=f"stroke augmentation x{variants}", leave=False, disable=not progress)
    with ProcessPoolExecutor(max_workers=workers) if workers > 1 else nullcontext() as ex:
        results = ex.map(_render_job, jobs, chunksize=64) if ex else map(_render_job, jobs)
        for i, (imgs, fr) in enumerate(results):
            out[i * variants : (i + 1) * variants] = imgs
            fraction[i * variants : (i + 1) * variants] = fr
            bar.update(1)
    bar.close()
    if cache is not None:
        cache.parent.mkdir(parents=True, exist_ok=True)
        np.savez(cache, x=out, fraction=fraction)
    return out, labels, fraction
