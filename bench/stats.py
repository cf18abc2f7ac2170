"""Small timing helpers shared by the benchmarks (no numpy needed for the summaries)."""

from __future__ import annotations

import math
import os
import platform
import subprocess
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from time import perf_counter_ns
from typing import Any

__all__ = ["machine_info", "median_of_runs", "percentile", "summarize", "time_calls"]


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """Percentile ``q`` (0..100) of already sorted values, linear interpolation."""
    if not sorted_values:
        return math.nan
    if len(sorted_values) == 1:
        return float(sorted_values[0])
    pos = (len(sorted_values) - 1) * q / 100.0
    lo = math.floor(pos)
    hi = min(lo + 1, len(sorted_values) - 1)
    frac = pos - lo
    return float(sorted_values[lo] * (1.0 - frac) + sorted_values[hi] * frac)


def summarize(values: Sequence[float], scale: float = 1.0) -> dict[str, float]:
    """``n``, ``median``, ``p95``, ``p99``, ``mean``, ``min``, ``max`` of ``values * scale``."""
    v = sorted(x * scale for x in values)
    if not v:
        return {"n": 0, "median": math.nan, "p95": math.nan, "p99": math.nan, "mean": math.nan}
    return {
        "n": len(v),
        "median": percentile(v, 50),
        "p95": percentile(v, 95),
        "p99": percentile(v, 99),
        "mean": sum(v) / len(v),
        "min": v[0],
        "max": v[-1],
    }


def time_calls(fn: Callable[[Any], object], inputs: Sequence[Any], reps: int, warmup: int = 3):
    """Call ``fn(x)`` for ``reps`` calls cycling over ``inputs``; per-call ns list."""
    for i in range(min(warmup, reps)):
        fn(inputs[i % len(inputs)])
    out = []
    n = len(inputs)
    for i in range(reps):
        x = inputs[i % n]
        t0 = perf_counter_ns()
        fn(x)
        out.append(perf_counter_ns() - t0)
    return out


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _load() -> str:
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "n/a"


def machine_info() -> dict[str, Any]:
    """What a figure was measured on: CPU, core count, load, versions, date."""
    info: dict[str, Any] = {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S UTC"),
        "nproc": os.cpu_count(),
        "cpu": _cpu_model(),
        "loadavg": _load(),
        "python": platform.python_version(),
    }
    try:
        import numpy
        import torch

        info["torch"] = torch.__version__
        info["torch_threads"] = torch.get_num_threads()
        info["numpy"] = numpy.__version__
    except ImportError:  # pragma: no cover
        pass
    try:
        rev = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
            cwd=os.path.dirname(os.path.abspath(__file__)),
        )
        if rev.returncode == 0:
            info["git"] = rev.stdout.strip()
    except (OSError, subprocess.SubprocessError):
        pass
    return info


def median_of_runs(runs: Sequence[Any]) -> Any:
    """Combine repeated results field by field: numbers -> their median, dicts -> recursively,
    lists of dicts with a ``section``/``case`` (micro rows) -> matched by those keys,
    anything else -> the last run's value."""
    last = runs[-1]
    if isinstance(last, bool) or last is None:
        return last
    if isinstance(last, int | float):
        nums = sorted(float(r) for r in runs if isinstance(r, int | float) and r == r)
        if not nums:
            return last
        med = percentile(nums, 50)
        return round(med) if all(isinstance(r, int) for r in runs) else med
    if isinstance(last, dict):
        keys = [k for k in last if all(isinstance(r, dict) and k in r for r in runs)]
        out = {k: median_of_runs([r[k] for r in runs]) for k in keys}
        for k in last:
            out.setdefault(k, last[k])
        return out
    if isinstance(last, list) and last and all(isinstance(x, dict) and "case" in x for x in last):

        def key(row: dict[str, Any]) -> tuple[Any, Any]:
            return (row.get("section"), row.get("case"))

        index = [{key(row): row for row in r} for r in runs]
        return [median_of_runs([ix[key(row)] for ix in index if key(row) in ix]) for row in last]
    return last
