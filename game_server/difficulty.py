"""Prompt difficulty learned from play, and dealing prompts by difficulty (no I/O).

Every finished round (a turn in "Beat the AI") records, per prompt, how many drawings were made
and how many of them the AI recognized, with a histogram of the times to recognition
(:data:`BUCKETS_MS`); store.py keeps the counts in Redis, once per round.

Difficulty is ``1 - r`` where ``r`` is the posterior mean of the recognition rate under a Beta
prior centred on the model's evaluation (per-class top-1 on the held-out test split,
reports/evaluation.json), worth as many drawings as the evaluation had (2 to
:data:`PRIOR_DRAWINGS`), so play data soon outweighs it; without a figure the prior is uniform.
The uncertainty is the posterior standard deviation: few plays, wide uncertainty.

Dealing samples each prompt's difficulty from its posterior (Thompson sampling: uncertain prompts
land anywhere, so little-played prompts get explored) and then picks by level:

* ``easy`` / ``hard``: the prompts with the lowest / highest sampled difficulty;
* ``mixed``: the sampled order is cut into as many strata as prompts are needed and one prompt is
  drawn from each (the game covers the range); the easier half and the harder half are then
  interleaved, easier first, so two of the hardest never follow each other.
"""

from __future__ import annotations

import bisect
import itertools
import json
import math
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

LEVELS = ("easy", "mixed", "hard")
PRIOR_DRAWINGS = 4.0
# Upper bounds (ms) of the time-to-recognition buckets; one more bucket holds anything longer.
BUCKETS_MS = (1000, 2000, 3000, 5000, 8000, 12000, 20000, 30000, 60000)
EVALUATION = Path(__file__).resolve().parent.parent / "reports" / "evaluation.json"


@dataclass
class PromptStats:
    """Play counts of one prompt (as stored in Redis)."""

    rounds: int = 0
    drawings: int = 0
    recognized: int = 0
    histogram: list[int] = field(default_factory=lambda: [0] * (len(BUCKETS_MS) + 1))


def bucket_of(elapsed_ms: int) -> int:
    return bisect.bisect_left(BUCKETS_MS, elapsed_ms)


def round_record(
    record_id: str, prompt: str, drawings: int, elapsed: Sequence[int]
) -> dict[str, Any]:
    """What one finished round adds to a prompt's stats (``elapsed``: recognition times)."""
    return {"id": record_id, "prompt": prompt, "drawings": drawings, "elapsed_ms": list(elapsed)}


def median_ms(histogram: Sequence[int]) -> int | None:
    """The median time to recognition, as the upper bound of the bucket holding it (``None``
    without recognitions; the open last bucket reports twice the last bound)."""
    total = sum(histogram)
    if total == 0:
        return None
    seen = 0
    for i, n in enumerate(histogram):
        seen += n
        if 2 * seen >= total:
            return BUCKETS_MS[i] if i < len(BUCKETS_MS) else 2 * BUCKETS_MS[-1]
    return None  # pragma: no cover - the loop always returns


Seed = tuple[float, int]  # the model's recognition rate of a class, and its test drawings


def load_seeds(path: Path = EVALUATION) -> dict[str, Seed]:
    """Per-class recognition rate and test count from the model's evaluation report (classes
    with test drawings; {} without the report)."""
    try:
        report = json.loads(path.read_text())
        per_class = report["models"]["model"]["results"]["per_class"]
    except (OSError, ValueError, KeyError, TypeError):
        return {}
    return {
        label: (float(row["top1"]), int(row["n"]))
        for label, row in per_class.items()
        if row.get("n")
    }


def posterior(stats: PromptStats | None, seed: Seed | None) -> tuple[float, float]:
    """Beta ``(alpha, beta)`` of a prompt's recognition rate."""
    rate, weight = (0.5, 2.0) if seed is None else (seed[0], min(max(seed[1], 2), PRIOR_DRAWINGS))
    prior = min(max(rate, 0.02), 0.98)
    n = stats.drawings if stats else 0
    k = stats.recognized if stats else 0
    return weight * prior + k, weight * (1 - prior) + (n - k)


def table(
    labels: Sequence[str], stats: Mapping[str, PromptStats], seeds: Mapping[str, Seed]
) -> list[dict[str, Any]]:
    """One row per prompt for ``GET /api/prompts``, hardest first."""
    rows = []
    for label in labels:
        s = stats.get(label) or PromptStats()
        a, b = posterior(s, seeds.get(label))
        mean = a / (a + b)
        rows.append(
            {
                "label": label,
                "rounds": s.rounds,
                "drawings": s.drawings,
                "recognition_rate": s.recognized / s.drawings if s.drawings else None,
                "median_ms": median_ms(s.histogram),
                "difficulty": round(1 - mean, 4),
                "uncertainty": round(math.sqrt(a * b / ((a + b) ** 2 * (a + b + 1))), 4),
                "source": "play" if s.drawings else ("model" if label in seeds else "none"),
            }
        )
    rows.sort(key=lambda r: (-r["difficulty"], r["label"]))
    return rows


def deal(
    rng: random.Random,
    labels: Sequence[str],
    count: int,
    level: str,
    beliefs: Mapping[str, tuple[float, float]],
) -> list[str]:
    """``count`` distinct prompts (at most ``len(labels)``) for a game at ``level``.
    ``beliefs``: label -> Beta ``(alpha, beta)`` of its recognition rate (missing: uniform)."""
    if level not in LEVELS:
        raise ValueError(f"level must be one of {LEVELS}")
    count = min(count, len(labels))
    sampled = sorted(
        (1 - rng.betavariate(*beliefs.get(label, (1.0, 1.0))), label) for label in labels
    )
    by_difficulty = [label for _d, label in sampled]  # easiest first
    if level == "easy":
        picked = by_difficulty[:count]
        rng.shuffle(picked)
        return picked
    if level == "hard":
        picked = by_difficulty[len(by_difficulty) - count :]
        rng.shuffle(picked)
        return picked
    bounds = [len(by_difficulty) * i // count for i in range(count + 1)]
    picked = [rng.choice(by_difficulty[lo:hi]) for lo, hi in itertools.pairwise(bounds)]
    easier, harder = picked[: (count + 1) // 2], picked[(count + 1) // 2 :]
    rng.shuffle(easier)
    rng.shuffle(harder)
    out = []
    for i, label in enumerate(easier):
        out.append(label)
        if i < len(harder):
            out.append(harder[i])
    return out
