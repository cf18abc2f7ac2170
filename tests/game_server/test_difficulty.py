"""Prompt difficulty from play and dealing by difficulty (game_server/difficulty.py)."""

from __future__ import annotations

import itertools
import json
import random
from pathlib import Path

import pytest

from game_server import difficulty
from game_server.difficulty import PromptStats

LABELS = [f"w{i:02d}" for i in range(30)]


def beliefs_by_rank() -> dict[str, tuple[float, float]]:
    """w00 is the easiest, w29 the hardest; every prompt well known (narrow posteriors)."""
    return {w: (1e5 * (1 - i / 30) + 1, 1e5 * i / 30 + 1) for i, w in enumerate(LABELS)}


def test_median_comes_from_the_histogram_buckets() -> None:
    h = [0] * (len(difficulty.BUCKETS_MS) + 1)
    assert difficulty.median_ms(h) is None
    for ms in (500, 2500, 2900, 9000):
        h[difficulty.bucket_of(ms)] += 1
    assert difficulty.median_ms(h) == 3000
    assert difficulty.bucket_of(1000) == 0 and difficulty.bucket_of(1001) == 1
    assert difficulty.bucket_of(10**6) == len(difficulty.BUCKETS_MS)


def test_seeds_come_from_the_evaluation_report() -> None:
    seeds = difficulty.load_seeds()
    assert len(seeds) == 85 and all(0 <= r <= 1 and n > 0 for r, n in seeds.values())
    report = json.loads(difficulty.EVALUATION.read_text())
    row = report["models"]["model"]["results"]["per_class"]["The Eiffel Tower"]
    assert seeds["The Eiffel Tower"] == (row["top1"], row["n"])


def test_without_the_report_there_are_no_seeds(tmp_path: Path) -> None:
    assert difficulty.load_seeds(tmp_path / "missing.json") == {}
    (tmp_path / "bad.json").write_text("{not json")
    assert difficulty.load_seeds(tmp_path / "bad.json") == {}


def test_a_seed_weighs_as_much_as_its_test_drawings() -> None:
    assert difficulty.posterior(None, None) == (1.0, 1.0)  # no figure: uniform
    assert difficulty.posterior(None, (0.0, 1)) == pytest.approx((0.04, 1.96))  # 1 drawing: 2
    assert difficulty.posterior(None, (0.75, 500)) == (3.0, 1.0)  # capped at PRIOR_DRAWINGS
    played = PromptStats(rounds=3, drawings=6, recognized=6)
    assert difficulty.posterior(played, (0.75, 500)) == (9.0, 1.0)


def test_table_starts_from_the_model_and_learns_from_play() -> None:
    seeds = {"cat": (0.9, 100), "dog": (0.4, 100)}
    rows = {r["label"]: r for r in difficulty.table(["cat", "dog", "owl"], {}, seeds)}
    assert rows["cat"]["difficulty"] == pytest.approx(0.1)
    assert rows["dog"]["difficulty"] == pytest.approx(0.6)
    assert rows["owl"]["source"] == "none" and rows["cat"]["source"] == "model"
    assert rows["cat"]["rounds"] == 0 and rows["cat"]["recognition_rate"] is None
    # cat turns out hard in play: 40 drawings, 4 recognized (all within 2 s)
    played = PromptStats(rounds=20, drawings=40, recognized=4)
    played.histogram[difficulty.bucket_of(1500)] = 4
    order = difficulty.table(["cat", "dog"], {"cat": played}, seeds)
    assert [r["label"] for r in order] == ["cat", "dog"]  # hardest first
    cat = order[0]
    assert cat["source"] == "play" and cat["recognition_rate"] == 0.1
    assert cat["difficulty"] == pytest.approx(1 - (4 * 0.9 + 4) / 44, abs=1e-4)
    assert cat["median_ms"] == 2000
    assert cat["uncertainty"] < rows["cat"]["uncertainty"]  # more plays, less uncertain


@pytest.mark.parametrize("level", difficulty.LEVELS)
def test_dealing_is_deterministic_with_a_seed(level: str) -> None:
    b = beliefs_by_rank()
    one = difficulty.deal(random.Random(5), LABELS, 8, level, b)
    assert one == difficulty.deal(random.Random(5), LABELS, 8, level, b)
    assert len(set(one)) == 8
    others = {tuple(difficulty.deal(random.Random(s), LABELS, 8, level, b)) for s in range(6)}
    assert len(others) > 1


def test_easy_and_hard_deal_from_their_ends() -> None:
    b = beliefs_by_rank()
    easy = difficulty.deal(random.Random(1), LABELS, 6, "easy", b)
    hard = difficulty.deal(random.Random(1), LABELS, 6, "hard", b)
    assert max(LABELS.index(w) for w in easy) < 10
    assert min(LABELS.index(w) for w in hard) >= 20


def test_mixed_covers_the_range_and_never_puts_two_hardest_in_a_row() -> None:
    b = beliefs_by_rank()
    for seed in range(20):
        game = difficulty.deal(random.Random(seed), LABELS, 6, "mixed", b)
        ranks = [LABELS.index(w) for w in game]
        assert sorted(r // 5 for r in ranks) == [0, 1, 2, 3, 4, 5]  # one from each sixth
        hard = {r for r in ranks if r >= 15}
        assert all(not (a in hard and c in hard) for a, c in itertools.pairwise(ranks))
        assert ranks[0] not in hard  # a game opens with an easier prompt


def test_prompts_with_little_data_are_explored() -> None:
    """An unplayed prompt (wide posterior) is dealt as 'easy' now and then; a well-known hard
    one never is."""
    b = beliefs_by_rank()
    b.pop("w25")  # no data: uniform
    dealt = [difficulty.deal(random.Random(s), LABELS, 5, "easy", b) for s in range(200)]
    assert any("w25" in game for game in dealt)
    assert not any("w26" in game for game in dealt)


def test_deal_never_repeats_and_caps_at_the_vocabulary() -> None:
    game = difficulty.deal(random.Random(0), LABELS[:4], 10, "mixed", {})
    assert sorted(game) == sorted(LABELS[:4])
    with pytest.raises(ValueError):
        difficulty.deal(random.Random(0), LABELS, 3, "insane", {})
