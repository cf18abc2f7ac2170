"""Micro-benchmark of the serving path: ``python -m bench.timing``.

Times, per drawing, on real Quick, Draw! drawings (raw = canvas pixels with timings, as a
client would send; simplified = Google's 0..255 strokes): normalize, rasterize,
drawing_to_image, single-drawing ``predict`` and batched ``predict_images``.  Reports the
median over ``--repeats`` runs.  Pin threads for single-thread numbers, e.g.
``OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1 python -m bench.timing``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from model.classifier import load_classifier
from model.raster import drawing_to_image, drawings_to_images, normalize, rasterize
from training.data import data_dir


def _load(source: str, cats: Sequence[str], n: int) -> list[Any]:
    out: list[Any] = []
    for cat in cats:
        path = data_dir() / source / f"{cat}.ndjson"
        with open(path) as f:
            for i, line in enumerate(f):
                if i >= n:
                    break
                out.append(json.loads(line)["drawing"])
    return out


def _per_item_us(fn: Callable[[], object], n_items: int, repeats: int) -> tuple[float, float]:
    """Median over ``repeats`` runs of (wall, process CPU) microseconds per item.  On a busy
    machine the CPU time is the better estimate of the cost on an idle core."""
    wall, cpu = [], []
    for _ in range(repeats):
        t, c = time.perf_counter(), time.process_time()
        fn()
        cpu.append((time.process_time() - c) / n_items * 1e6)
        wall.append((time.perf_counter() - t) / n_items * 1e6)
    return statistics.median(wall), statistics.median(cpu)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.timing")
    p.add_argument("--n", type=int, default=300, help="drawings per category and source")
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--categories", default="cat,airplane,bicycle,television,dragon")
    args = p.parse_args(argv)
    cats = [c for c in args.categories.split(",") if c]
    raw = _load("raw", cats, args.n)
    simp = _load("simplified", cats, args.n)
    clf = load_classifier()
    r = args.repeats
    results: dict[str, tuple[float, float]] = {}
    results["normalize(raw) us"] = _per_item_us(lambda: [normalize(d) for d in raw], len(raw), r)
    results["normalize(simplified) us"] = _per_item_us(
        lambda: [normalize(d) for d in simp], len(simp), r
    )
    results["rasterize(simplified) us"] = _per_item_us(
        lambda: [rasterize(d) for d in simp], len(simp), r
    )
    results["drawing_to_image(raw) us"] = _per_item_us(
        lambda: [drawing_to_image(d) for d in raw], len(raw), r
    )
    results["predict([raw]) single us"] = _per_item_us(
        lambda: [clf.predict([d]) for d in raw], len(raw), r
    )
    results["predict([simplified]) single us"] = _per_item_us(
        lambda: [clf.predict([d]) for d in simp], len(simp), r
    )
    results["drawings_to_images(raw) batch=64 us/drawing"] = _per_item_us(
        lambda: [drawings_to_images(raw[i : i + 64]) for i in range(0, len(raw) - 63, 64)],
        (len(raw) // 64) * 64,
        r,
    )
    imgs = np.stack([drawing_to_image(d) for d in raw])
    results["predict_images batch=1 us"] = _per_item_us(
        lambda: [clf.predict_images(imgs[i : i + 1]) for i in range(len(imgs))], len(imgs), r
    )
    for bs in (16, 64):
        batches = [imgs[i : i + bs] for i in range(0, len(imgs) - bs + 1, bs)]
        results[f"predict_images batch={bs} us/img"] = _per_item_us(
            lambda b=batches: [clf.predict_images(x) for x in b], len(batches) * bs, r
        )
    results["predict(raw) batch=64 us/drawing"] = _per_item_us(
        lambda: [clf.predict(raw[i : i + 64]) for i in range(0, len(raw) - 63, 64)],
        (len(raw) // 64) * 64,
        r,
    )
    n_pts = np.mean([sum(len(s[0]) for s in d) for d in raw])
    n_strokes = np.mean([len(d) for d in raw])
    print(
        f"{len(raw)} raw drawings (mean {n_pts:.0f} points, {n_strokes:.1f} strokes), "
        f"{len(simp)} simplified; median of {r} runs"
    )
    print(f"  {'':44s} {'wall':>9s} {'cpu':>9s}")
    for k, (w, c) in results.items():
        print(f"  {k:44s} {w:9.1f} {c:9.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
