"""Micro-benchmarks of the guessing path, on real Quick, Draw! drawings.

``python -m bench.micro [--reps N] [--drawings N] [--json] [--quick] [--only sketch]``

Measured (each call timed alone with ``time.perf_counter_ns``; median and p99 in
microseconds; the MLP is numpy, pin its BLAS threads with ``OPENBLAS_NUM_THREADS=1``
because the server runs one inference at a time per process and the machine has 2 cores
shared with the event loop; torch is not needed):

* ``normalize``: ``model.normalize`` of whole raw drawings, by raw points and by strokes;
* ``rasterize``: ``model.rasterize`` of normalized drawings, by normalized points / strokes;
* ``sketch``: the server's exact incremental raster (``model.IncrementalRaster``, numba and
  numpy paths) replayed as the server sees it: one ``points`` update per 100 ms of drawing
  time (points as the protocol parser hands them over, tuples of numbers), ``apply_points``
  (event loop) and ``image()`` (inference thread) timed separately per update;
* ``infer``: the MLP (``predict_images``) on 1 image and on batches of 4 to 256 (``--only infer``)
  (per call and per image);
* ``update``: the whole per-update server path (:mod:`bench.hotpath`): append the points,
  normalize + rasterize the whole drawing so far, infer, JSON-serialize the guess and the
  relayed points, frame them for a room of 8 -- replayed update by update as the real
  drawings were streamed (one ``points`` batch per 100 ms of drawing time), with a stage
  breakdown;
* ``seed``: the seed's PNG pipeline (:mod:`bench.seed_pipeline`) on the same drawing
  prefixes, timed interleaved with ours, and the ratio of the medians.
"""

from __future__ import annotations

import os

# One BLAS thread (numpy's OpenBLAS does the MLP's matrix products), set before numpy loads.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from time import perf_counter_ns
from typing import Any

import numpy as np

from bench import classifier as classifier_mod
from bench import seed_pipeline as seed
from bench.data import Drawing, protocol_updates, sample_drawings
from bench.hotpath import RoomPath, points_message
from bench.stats import machine_info, median_of_runs, summarize, time_calls

POINT_BUCKETS = ((1, 100), (101, 300), (301, 1000), (1001, 10**9))
NORM_POINT_BUCKETS = ((1, 25), (26, 50), (51, 100), (101, 10**9))
STROKE_BUCKETS = ((1, 3), (4, 8), (9, 10**9))
BATCHES = (1, 4, 8, 16, 32, 64, 128, 256)


def _label(lo: int, hi: int, unit: str) -> str:
    return f"{lo}+ {unit}" if hi >= 10**9 else f"{lo}-{hi} {unit}"


def _row(section: str, case: str, ns: Sequence[float], **extra: Any) -> dict[str, Any]:
    s = summarize(ns, 1e-3)
    row = {"section": section, "case": case, "n": s["n"], "median_us": s["median"]}
    row.update({"p99_us": s["p99"], "mean_us": s["mean"]})
    row.update(extra)
    return row


def _bucketed(
    section: str,
    fn: Callable[[Any], object],
    items: Sequence[tuple[Any, int, int]],
    reps: int,
    point_buckets: Sequence[tuple[int, int]],
    unit: str,
) -> list[dict[str, Any]]:
    """Rows for all items, then per points bucket and per strokes bucket."""
    rows = [_row(section, "all drawings", time_calls(fn, [x for x, _, _ in items], reps))]
    for key, buckets, u in ((1, point_buckets, unit), (2, STROKE_BUCKETS, "strokes")):
        for lo, hi in buckets:
            sel = [x for x, *size in items if lo <= size[key - 1] <= hi]
            if sel:
                rows.append(
                    _row(section, _label(lo, hi, u), time_calls(fn, sel, reps), drawings=len(sel))
                )
    return rows


def bench_normalize(drawings: Sequence[Drawing], reps: int) -> list[dict[str, Any]]:
    from model import normalize

    items = [(d.xy, d.n_points, d.n_strokes) for d in drawings]
    return _bucketed("normalize", normalize, items, reps, POINT_BUCKETS, "raw points")


def bench_rasterize(drawings: Sequence[Drawing], reps: int) -> list[dict[str, Any]]:
    from model import normalize, rasterize

    items = []
    for d in drawings:
        n = normalize(d.xy)
        items.append((n, sum(len(s[0]) for s in n), len(n)))
    return _bucketed("rasterize", rasterize, items, reps, NORM_POINT_BUCKETS, "norm. points")


def bench_infer(clf: classifier_mod.Classifier, drawings: Sequence[Drawing], reps: int):
    from model import drawing_to_image

    images = np.stack([drawing_to_image(d.xy) for d in drawings])
    rows = []
    for b in BATCHES:
        reps_b = max(5, reps // max(1, b // 8))
        starts = list(range(0, max(1, len(images) - b + 1), max(1, b)))[:64] or [0]
        batches = [np.resize(images[s : s + b], (b, 28, 28)) for s in starts]
        ns = time_calls(clf.predict_images, batches, reps_b)
        row = _row("infer", f"batch {b}", ns, batch=b)
        row["per_image_us"] = row["median_us"] / b
        rows.append(row)
    return rows


def bench_sketch(
    drawings: Sequence[Drawing], max_updates: int, interval_ms: float
) -> list[dict[str, Any]]:
    """Per update: ``IncrementalRaster.apply_points`` then ``image()``, both paths."""
    from model import IncrementalRaster

    replays = []
    for d in drawings:
        ups = protocol_updates(d, interval_ms)
        replays.append([(si, tuple(tuple(p) for p in pts)) for _, si, pts in ups])
    rows = []
    for name, compiled in (("numba", True), ("numpy", False)):
        raster = IncrementalRaster(compiled=compiled)
        raster.apply_points(0, [(0.0, 0.0, 0.0), (9.0, 5.0, 1.0)])
        raster.image()  # load the kernels
        apply_ns: list[int] = []
        image_ns: list[int] = []
        for ups in replays:
            raster.clear()
            for si, pts in ups:
                t0 = perf_counter_ns()
                raster.apply_points(si, pts)
                t1 = perf_counter_ns()
                raster.image()
                t2 = perf_counter_ns()
                apply_ns.append(t1 - t0)
                image_ns.append(t2 - t1)
                if len(apply_ns) >= max_updates:
                    break
            if len(apply_ns) >= max_updates:
                break
        both = [a + b for a, b in zip(apply_ns, image_ns, strict=True)]
        rows += [
            _row("sketch", f"{name}: apply_points", apply_ns),
            _row("sketch", f"{name}: image()", image_ns),
            _row("sketch", f"{name}: apply_points + image()", both),
        ]
    return rows


def _updates(drawings: Sequence[Drawing], interval_ms: float) -> list[list[tuple[int, str]]]:
    """Per drawing: ``(points in the batch, points message)`` for every update."""
    out = []
    for d in drawings:
        ups = protocol_updates(d, interval_ms)
        out.append([(len(p), points_message(i, si, p)) for i, (_, si, p) in enumerate(ups)])
    return out


def bench_update(
    clf: classifier_mod.Classifier,
    drawings: Sequence[Drawing],
    max_updates: int,
    recipients: int,
    interval_ms: float,
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Replay drawings update by update through :class:`RoomPath`; total + stage times."""
    room = RoomPath(clf, recipients=recipients)
    names = ("parse+append", "normalize", "rasterize", "infer", "serialize", "fan-out")
    stages: dict[str, list[int]] = {k: [] for k in (*names, "total")}
    by_size: dict[str, list[int]] = {}
    n = 0
    written = 0
    replays = _updates(drawings, interval_ms)
    # warm-up
    for ups in replays[:2]:
        room.reset()
        for _, raw in ups:
            room.update(raw)
    for ups in replays:
        room.reset()
        acc = 0
        for npts, raw in ups:
            t = room.update_timed(raw)
            acc += npts
            for name, a, b in zip(names, t[:6], t[1:7], strict=True):
                stages[name].append(b - a)
            stages["total"].append(t[6] - t[0])
            bucket = next(
                _label(lo, hi, "raw points so far") for lo, hi in POINT_BUCKETS if acc <= hi
            )
            by_size.setdefault(bucket, []).append(t[6] - t[0])
            written += t[7]
            n += 1
            if n >= max_updates:
                break
        if n >= max_updates:
            break
    rows = [_row("update", f"stage: {k}", v) for k, v in stages.items()]
    rows += _variants(clf, replays, max_updates, recipients)
    for lo, hi in POINT_BUCKETS:
        label = _label(lo, hi, "raw points so far")
        if label in by_size:
            rows.append(_row("update", f"total, {label}", by_size[label]))
    meta = {"updates": n, "recipients": recipients, "bytes_per_update": written / max(n, 1)}
    meta["direct_top1_agreement"] = _direct_agreement(clf, drawings)
    return rows, meta


def _direct_agreement(clf, drawings: Sequence[Drawing]) -> float:
    """Share of whole drawings whose top-1 guess is the same with the proposed direct path
    (no resample/RDP) as with the reference normalize + rasterize."""
    from bench.hotpath import direct_normalize
    from model.raster import normalize_arrays, rasterize_arrays

    def img(strokes):
        return np.rint(rasterize_arrays(strokes) * 255.0).astype(np.uint8)

    ref = np.stack([img(normalize_arrays(d.xy)) for d in drawings])
    new = np.stack([img(direct_normalize(d.xy)) for d in drawings])
    a = clf.predict_images(ref).argmax(axis=1)
    b = clf.predict_images(new).argmax(axis=1)
    return float((a == b).mean())


def _replay_total(path: Any, replays: list[list[tuple[int, str]]], max_updates: int):
    ns: list[int] = []
    for ups in replays[:2]:  # warm-up
        path.reset()
        for _, raw in ups:
            path.update(raw)
    for ups in replays:
        path.reset()
        for _, raw in ups:
            t0 = perf_counter_ns()
            path.update(raw)
            ns.append(perf_counter_ns() - t0)
            if len(ns) >= max_updates:
                return ns
    return ns


def _variants(clf, replays, max_updates: int, recipients: int) -> list[dict[str, Any]]:
    """The same replay with permessage-deflate per recipient, and through the game server's
    own functions (if ``game_server`` is importable)."""
    n = max(1, max_updates // 4)
    rows = [
        _row(
            "update",
            "total, fan-out with permessage-deflate",
            _replay_total(RoomPath(clf, recipients=recipients, deflate=True), replays, n),
        ),
        _row(
            "update",
            "total, PROPOSAL: raw points -> raster (no resample/RDP)",
            _replay_total(RoomPath(clf, recipients=recipients, direct=True), replays, n),
        ),
    ]
    try:
        from bench.hotpath import ServerFunctionsPath

        path = ServerFunctionsPath(clf.impl, recipients=recipients)
    except Exception as exc:  # the backend is not importable (yet)
        rows.append({"section": "update", "case": f"game_server functions: n/a ({exc})"[:60],
                     "n": 0, "median_us": float("nan"), "p99_us": float("nan")})  # fmt: skip
        return rows
    rows.append(_row("update", "total, game_server functions", _replay_total(path, replays, n)))
    return rows


def bench_seed(
    clf: classifier_mod.Classifier,
    drawings: Sequence[Drawing],
    max_guesses: int,
    interval_ms: float,
    recipients: int,
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Ours vs the seed's per guess, interleaved on the same drawing prefixes."""
    ours_server: list[int] = []
    seed_client: list[int] = []
    seed_render: list[int] = []
    seed_server: list[int] = []
    png_bytes: list[int] = []
    our_bytes: list[int] = []
    agree = 0
    room = RoomPath(clf, recipients=recipients)
    replays = _updates(drawings, interval_ms)
    total = sum(len(u) for u in replays)
    stride = max(1, total // max(1, max_guesses))
    k = 0
    done = 0
    for ups in replays:
        room.reset()
        for _, raw in ups:
            k += 1
            if k % stride:
                room.update(raw)
                continue
            t0 = perf_counter_ns()
            room.update(raw)
            t1 = perf_counter_ns()
            canvas = seed.fit_to_canvas(room.strokes)
            t2 = perf_counter_ns()
            img = seed.client_render(canvas)
            t3 = perf_counter_ns()
            url = seed.client_encode(img)
            t4 = perf_counter_ns()
            seed.server_guess(url, clf)
            t5 = perf_counter_ns()
            ours_server.append(t1 - t0)
            seed_render.append(t3 - t2)
            seed_client.append(t4 - t3)
            seed_server.append(t5 - t4)
            png_bytes.append(len(url))
            our_bytes.append(len(raw))
            a = room.image()
            b = seed.server_preprocess(url)
            agree += int(
                np.argmax(clf.predict_images(a[None])) == np.argmax(clf.predict_images(b[None]))
            )
            done += 1
            if done >= max_guesses:
                break
        if done >= max_guesses:
            break
    rows = [
        _row("seed", "ours: server path per update", ours_server),
        _row("seed", "seed: server decode+crop+resize+MLP", seed_server),
        _row("seed", "seed: client PNG encode+base64", seed_client),
        _row("seed", "seed: client canvas render (Pillow)", seed_render),
    ]
    med = {r["case"]: r["median_us"] for r in rows}
    ours = med["ours: server path per update"]
    meta = {
        "guesses": done,
        "ratio_server": med["seed: server decode+crop+resize+MLP"] / ours,
        "ratio_client_plus_server": (
            med["seed: server decode+crop+resize+MLP"] + med["seed: client PNG encode+base64"]
        )
        / ours,
        "seed_upload_bytes_median": float(np.median(png_bytes)) if png_bytes else 0.0,
        "our_upload_bytes_median": float(np.median(our_bytes)) if our_bytes else 0.0,
        "top1_agreement": agree / max(done, 1),
    }
    return rows, meta


def run(args: argparse.Namespace) -> dict[str, Any]:
    clf = classifier_mod.load(args.model, use_stand_in=args.stand_in)
    drawings = sample_drawings(args.drawings, seed=args.seed)
    result: dict[str, Any] = {
        "machine": machine_info(),
        "model": clf.kind,
        "classes": len(clf.labels),
        "config": {
            "reps": args.reps,
            "drawings": len(drawings),
            "openblas_threads": os.environ.get("OPENBLAS_NUM_THREADS"),
            "update_interval_ms": args.interval_ms,
            "recipients": args.recipients,
            "median_raw_points": float(np.median([d.n_points for d in drawings])),
            "median_strokes": float(np.median([d.n_strokes for d in drawings])),
        },
    }
    rows: list[dict[str, Any]] = []
    if args.only == "sketch":
        result["results"] = bench_sketch(drawings, args.max_updates, args.interval_ms)
        return result
    if args.only == "infer":
        result["results"] = bench_infer(clf, drawings, args.reps)
        return result
    rows += bench_normalize(drawings, args.reps)
    rows += bench_rasterize(drawings, args.reps)
    rows += bench_sketch(drawings, args.max_updates, args.interval_ms)
    rows += bench_infer(clf, drawings, args.reps)
    up_rows, up_meta = bench_update(
        clf, drawings, args.max_updates, args.recipients, args.interval_ms
    )
    rows += up_rows
    result["update"] = up_meta
    if not args.skip_seed:
        seed_rows, seed_meta = bench_seed(
            clf, drawings, args.seed_guesses, args.interval_ms, args.recipients
        )
        rows += seed_rows
        result["seed"] = seed_meta
    result["results"] = rows
    return result


def format_table(result: dict[str, Any]) -> str:
    m = result["machine"]
    c = result["config"]
    lines = [
        f"# bench.micro  {m['date']}  (median of {result.get('repeat', 1)} run(s))  "
        f"{m['cpu']}  nproc={m['nproc']}  load={m['loadavg']}",
        f"# model: {result['model']} ({result['classes']} classes); "
        f"OPENBLAS_NUM_THREADS={result['config']['openblas_threads']}; "
        f"drawings={c['drawings']} (median {c['median_raw_points']:.0f}"
        f" raw points, {c['median_strokes']:.0f} strokes)",
        f"{'section':<10} {'case':<58} {'n':>7} {'median us':>10} {'p99 us':>10}",
    ]
    for r in result["results"]:
        extra = f"  ({r['per_image_us']:.1f} us/image)" if "per_image_us" in r else ""
        lines.append(
            f"{r['section']:<10} {r['case']:<58} {r['n']:>7} {r['median_us']:>10.1f} "
            f"{r['p99_us']:>10.1f}{extra}"
        )
    u = result.get("update")
    if u is None:
        return "\n".join(lines)
    lines.append(
        f"# update: {u['updates']} updates replayed, room of {u['recipients']}, "
        f"{u['bytes_per_update']:.0f} bytes framed per update; PROPOSAL direct raster: "
        f"top-1 agreement with the reference on whole drawings {u['direct_top1_agreement']:.1%}"
    )
    if "seed" in result:
        s = result["seed"]
        lines.append(
            f"# seed/ours per guess (medians, interleaved, {s['guesses']} guesses): server "
            f"{s['ratio_server']:.1f}x, client encode + server "
            f"{s['ratio_client_plus_server']:.1f}x;"
            f" upload {s['seed_upload_bytes_median']:.0f} B (PNG data URL) vs "
            f"{s['our_upload_bytes_median']:.0f} B (points batch); top-1 agreement "
            f"{s['top1_agreement']:.0%}"
        )
    return "\n".join(lines)


def format_markdown(result: dict[str, Any]) -> str:
    """The result table as Markdown (for docs/BENCHMARKS.md)."""
    lines = ["| section | case | n | median (us) | p99 (us) |", "|---|---|---:|---:|---:|"]
    for r in result["results"]:
        case = r["case"]
        if "per_image_us" in r:
            case += f" ({r['per_image_us']:.1f} us/image)"
        lines.append(
            f"| {r['section']} | {case} | {r['n']} | {r['median_us']:.1f} | {r['p99_us']:.1f} |"
        )
    return "\n".join(lines)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.micro", description=__doc__.split("\n")[0])
    p.add_argument("--reps", type=int, default=2000, help="timed calls per case (default 2000)")
    p.add_argument("--drawings", type=int, default=400, help="real drawings sampled")
    p.add_argument("--max-updates", type=int, default=20000, help="updates replayed")
    p.add_argument("--seed-guesses", type=int, default=400, help="guesses compared with seed")
    p.add_argument("--recipients", type=int, default=8, help="room size for the fan-out")
    p.add_argument("--interval-ms", type=float, default=100.0, help="client batching interval")
    p.add_argument("--seed", type=int, default=0, help="drawing sample seed")
    p.add_argument("--model", default=None, help="model artifact path (default: shipped)")
    p.add_argument("--stand-in", action="store_true", help="time a random-weight stand-in MLP")
    p.add_argument("--only", choices=["sketch", "infer"], help="run one section only")
    p.add_argument("--skip-seed", action="store_true", help="skip the seed comparison")
    p.add_argument("--repeat", type=int, default=1, help="runs; report the medians (default 1)")
    p.add_argument("--quick", action="store_true", help="tiny run (smoke test)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--markdown", action="store_true", help="print a Markdown table")
    args = p.parse_args(argv)
    if args.quick:
        args.reps, args.drawings, args.max_updates, args.seed_guesses = 20, 12, 60, 6
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    runs = [run(args) for _ in range(args.repeat)]
    result = median_of_runs(runs) if len(runs) > 1 else runs[0]
    result["repeat"] = len(runs)
    result["machine"] = runs[-1]["machine"]
    result["machine"]["date_first_run"] = runs[0]["machine"]["date"]
    if args.json:
        json.dump(result, sys.stdout)
        sys.stdout.write("\n")
    elif args.markdown:
        print(format_markdown(result))
    else:
        print(format_table(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
