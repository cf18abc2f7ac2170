"""Helpers of the benchmark tools: combining repeated runs, summarizing profiles."""

from __future__ import annotations

from bench.profile import component_of, summarize_collapsed
from bench.stats import median_of_runs, percentile, summarize


def test_percentile_and_summary() -> None:
    assert percentile([1.0, 2.0, 3.0, 4.0], 50) == 2.5
    s = summarize(list(range(101)))
    assert s["median"] == 50 and s["p99"] == 99 and s["n"] == 101


def test_median_of_runs_combines_numbers_dicts_and_rows() -> None:
    runs = [
        {"a": 1, "b": {"c": 1.0}, "rows": [{"section": "x", "case": "y", "median_us": 3.0}]},
        {"a": 5, "b": {"c": 2.0}, "rows": [{"section": "x", "case": "y", "median_us": 1.0}]},
        {"a": 3, "b": {"c": 9.0}, "rows": [{"section": "x", "case": "y", "median_us": 2.0}]},
    ]
    out = median_of_runs(runs)
    assert out["a"] == 3 and isinstance(out["a"], int)
    assert out["b"]["c"] == 2.0
    assert out["rows"] == [{"section": "x", "case": "y", "median_us": 2.0}]


def test_collapsed_stacks_summary() -> None:
    lines = [
        "main (game_server/__main__.py:1);_rdp_keep (model/raster.py:270) 6",
        "main (game_server/__main__.py:1);logits_from_images (model/classifier.py:55) 3",
        "main (game_server/__main__.py:1);Runner.run (asyncio/runners.py:118) 1",
    ]
    text = summarize_collapsed(lines)
    assert "10 samples" in text
    assert "60.0%  normalize (model.raster)" in text
    assert "30.0%  MLP (model.classifier)" in text
    assert component_of("encode (websockets/extensions/permessage_deflate.py)") == (
        "permessage-deflate"
    )


def test_report_formats_load_rows_and_failures() -> None:
    from bench.report import LOAD_HEADER, load_row

    run = {
        "players": 8, "rooms": 1, "updates_per_s": 45.0, "guesses_per_s": 46.0,
        "latency_ms": {"p50": 6.0, "p95": 11.0, "p99": 15.0}, "unanswered": 0,
        "recognition_rate": 1.0, "errors": 0, "server_cpu_pct": 18.0,
        "server_cpu_us_per_update": 3891.0, "children_cpu_pct": 1.5,
        "server_peak_rss_mb": 89.0, "client_cpu_pct": 4.0,
    }  # fmt: skip
    row = load_row("tuned", run)
    assert row.count("|") == LOAD_HEADER.splitlines()[0].count("|")
    assert "6 / 11 / 15" in row
    assert "failed" in load_row("x", {"players": 128, "rooms": 16, "failed": "timeout"})
