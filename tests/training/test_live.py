"""Live replay and calibration: real drawings replayed update by update, the rule's figures
on hand-made replays, temperature scaling."""

from __future__ import annotations

import math

import numpy as np
import pytest

from model import BeliefFilter, load_classifier
from model.belief import IDENTITY, Belief
from model.recognition import RecognitionRule
from training.calibrate import ece, fit_temperature, softmax
from training.data import load_strokes, timed_strokes
from training.live import (
    Replay,
    best_belief,
    best_rule,
    heldout_drawings,
    live_metrics,
    live_metrics_by_source,
    prefix_before,
    replay,
    smoothed,
    update_prefixes,
)


def _replay(label: int, probs: list[list[float]], times: list[float] | None = None) -> Replay:
    p = np.asarray(probs, dtype=np.float32)
    t = np.asarray(times if times is not None else [100.0 * (i + 1) for i in range(len(p))])
    return Replay(label, True, "raw", t, np.ones(len(p), dtype=np.int64), p)


def test_update_prefixes_cut_strokes_every_100_ms() -> None:
    # one stroke of 5 points over 250 ms, then a second stroke at 400-420 ms
    d = [[[0, 1, 2, 3, 4], [0, 0, 0, 0, 0], [0, 60, 120, 180, 250]], [[9, 9], [0, 5], [400, 420]]]
    ups = update_prefixes(d)
    assert [t for t, _ in ups] == [60.0, 180.0, 250.0, 420.0]
    assert ups[0][1] == [[[0, 1], [0, 0]]]  # the stroke in progress, cut at 100 ms
    assert ups[1][1] == [[[0, 1, 2, 3], [0, 0, 0, 0]]]
    assert len(ups[3][1]) == 2 and ups[3][1][1] == [[9, 9], [0, 5]]
    assert prefix_before(d, 0.0) == []


def test_timed_strokes_of_a_simplified_drawing() -> None:
    d = [[[0, 1, 2], [0, 0, 0]], [[5, 6], [1, 1]]]
    assert timed_strokes(d, "simplified") == [
        [[0, 1, 2], [0, 0, 0], [0.0, 10.0, 20.0]],
        [[5, 6], [1, 1], [170.0, 180.0]],
    ]


def test_live_replay_of_real_drawings_is_deterministic() -> None:
    clf = load_classifier()
    drawings = [d for d in load_strokes("cat", "raw") if d.split == "test"][:3]
    assert len(drawings) == 3
    for d in drawings:
        d.drawing = timed_strokes(d.drawing, "raw")
    label_of = {c: i for i, c in enumerate(clf.labels)}.__getitem__
    a = replay(clf, drawings, label_of)
    b = replay(clf, drawings, label_of)
    for ra, rb, d in zip(a, b, drawings, strict=True):
        assert ra.label == clf.labels.index("cat") and ra.source == "raw"
        assert np.array_equal(ra.probs, rb.probs) and np.array_equal(ra.times, rb.times)
        assert (np.diff(ra.times) > 0).all()
        assert ra.duration == max(max(s[2]) for s in d.drawing)
        # the last update is the whole drawing, classified like predict() does
        whole = clf.predict([[[s[0], s[1]] for s in d.drawing]])[0]
        np.testing.assert_allclose(ra.probs[-1], whole, rtol=1e-5, atol=1e-6)
    m = live_metrics(a, clf.rule, clf.labels)
    assert m["recognition"]["n"] == 3 and m == live_metrics(b, clf.rule, clf.labels)


def test_heldout_drawings_count_each_drawing_once() -> None:
    ds = heldout_drawings(["cat"], ("test",))
    keys = [d.key_id for d in ds]
    assert len(keys) == len(set(keys)) and all(d.split == "test" for d in ds)
    assert {d.source for d in ds} == {"raw", "simplified"}
    assert all(len(s) == 3 for d in ds for s in d.drawing)  # every drawing has timings


def test_live_metrics_on_hand_made_replays() -> None:
    labels = ["a", "b", "c"]
    rule = RecognitionRule("top1", 0.5)
    recognized_late = _replay(0, [[0.2, 0.7, 0.1], [0.4, 0.5, 0.1], [0.6, 0.3, 0.1]])
    never = _replay(1, [[0.6, 0.3, 0.1], [0.9, 0.05, 0.05]])
    m = live_metrics([recognized_late, never], rule, labels)
    assert m["recognition"]["rate"] == 0.5
    assert m["time_to_recognition_ms"]["median"] == 300.0
    assert m["time_to_recognition_fraction"]["median"] == 1.0
    # wrong prompts: drawing 0 is accepted as "b" (1 of 2 wrong prompts), drawing 1 as "a"
    assert m["false_recognition_wrong_prompt"]["rate"] == 0.5
    assert m["top1_changes_per_drawing"]["mean"] == 0.5
    assert m["first_guess"]["first_update"]["most_frequent"] in ("a", "b")


def test_live_metrics_by_source() -> None:
    labels = ["a", "b"]
    rule = RecognitionRule("target", 0.5)
    raw = _replay(0, [[0.3, 0.7], [0.9, 0.1]])
    simplified = Replay(
        1, True, "simplified", np.array([10.0]), np.ones(1, np.int64), raw.probs[1:]
    )
    m = live_metrics_by_source([raw, simplified], rule, labels)
    assert [m[k]["recognition"]["n"] for k in ("raw", "simplified", "all")] == [1, 1, 2]
    assert m["raw"]["recognition"]["rate"] == 1.0 and m["simplified"]["recognition"]["rate"] == 0.0
    assert m["raw"]["top1_changes_per_drawing"]["mean"] == 1.0
    assert m["all"] == live_metrics([raw, simplified], rule, labels)


def test_best_rule_is_the_lowest_threshold_within_the_false_recognition_bound() -> None:
    own = [_replay(i % 3, [np.roll([0.8, 0.15, 0.05], i % 3).tolist()]) for i in range(30)]
    other = [_replay(-1, [[0.1, 0.3, 0.6]])]
    rule, found = best_rule(own, other, max_false=0.0)
    # wrong prompts peak at 0.15 (own drawings) and 0.6 (the other drawing): 0.601 keeps both out
    assert rule.kind == "target" and rule.threshold == pytest.approx(0.601, abs=1e-3)
    assert found["target"]["recognition"] == 1.0
    assert found["top1"]["threshold"] == pytest.approx(0.601, abs=1e-3)


def test_temperature_scaling_fits_an_overconfident_model() -> None:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 5, 4000)
    logits = rng.normal(0, 1, (4000, 5))
    logits[np.arange(4000), y] += 1.0
    hot = logits * 4  # same argmax, four times too confident
    t = fit_temperature(hot, y)
    assert 3.0 < t < 5.0
    assert ece(softmax(hot, t), y) < ece(softmax(hot), y)
    assert np.array_equal(softmax(hot, t).argmax(1), hot.argmax(1))


def _flickering(label: int, spike: int, n: int = 20) -> Replay:
    """A drawing of class ``label`` (of 3) whose own probability rises to 0.6, with a
    one-update spike of 0.9 on class ``spike`` at update 5."""
    rows = []
    for u in range(n):
        own = 1 / 3 + (0.6 - 1 / 3) * u / (n - 1)
        row = np.full(3, (1 - own) / 2)
        row[label] = own
        if u == 5:
            row = np.full(3, 0.05)
            row[spike] = 0.9
        rows.append(row.tolist())
    return _replay(label, rows)


def test_smoothed_replays_are_the_belief_then_its_settling() -> None:
    r = _flickering(0, 1)
    assert smoothed([r], IDENTITY) == [r]
    [s] = smoothed([r], BeliefFilter(300.0))
    assert s.settled is not None and s.settled.tolist() == [False] * len(r.probs) + [True]
    assert s.live == len(r.probs) and len(s.probs) == len(r.probs) + 1
    np.testing.assert_allclose(s.probs[:-1], BeliefFilter(300.0).run(r.probs, r.times), 1e-6)
    np.testing.assert_array_equal(s.probs[-1], r.probs[-1])  # settled on the finished drawing
    assert s.probs[5, 1] < 0.6 < r.probs[5, 1]  # the one-update spike is damped
    # recognized only once settled: by the round's end, not while drawing
    m = live_metrics([s], RecognitionRule("target", 0.59), ["a", "b", "c"])
    assert m["recognition"]["rate"] == 1.0 and m["recognition_live"]["rate"] == 0.0
    assert m["updates_per_drawing"] == len(r.probs)


def test_a_pause_of_settle_ms_settles_the_belief_mid_drawing_and_the_next_update_goes_on() -> None:
    r = _flickering(0, 1)
    pause = r.times.copy()
    pause[12:] += 1000.0  # the player pauses 1100 ms after update 11, then goes on
    r = Replay(r.label, True, "raw", pause, r.n_strokes, r.probs)
    belief = BeliefFilter(300.0)
    assert smoothed([r], belief, settle_ms=1101.0)[0].live == len(r.probs)  # pause too short
    [s] = smoothed([r], belief, settle_ms=1100.0)
    assert s.settled is not None
    assert np.flatnonzero(s.settled).tolist() == [12, len(r.probs) + 1]  # after 11 and the last
    assert s.times[12] == r.times[11] and s.live == len(r.probs)  # at the settled update's time
    np.testing.assert_allclose(s.probs[12], r.probs[11], 1e-6)
    # the next update continues from the settled belief (model.Belief semantics)
    b = Belief(belief)
    for u in range(12):
        b.update(r.probs[u], r.times[u])
    b.settle(r.probs[11])
    np.testing.assert_allclose(s.probs[13], b.update(r.probs[12], r.times[12]), 1e-6)
    # the pause's settled row (own p 0.473) is recognized where the lagging belief is not
    # yet: at the pause, not when the player goes on drawing as without the idle settle
    rule = RecognitionRule("target", 0.47)
    m = live_metrics([s], rule, ["a", "b", "c"])
    late = live_metrics(smoothed([r], belief, settle_ms=math.inf), rule, ["a", "b", "c"])
    assert m["time_to_recognition_ms"]["median"] == r.times[11]
    assert late["time_to_recognition_ms"]["median"] >= r.times[12] > r.times[11] + 1000
    assert m["updates_per_drawing"] == len(r.probs)  # settled rows are not live updates


def test_best_belief_lowers_the_threshold_within_the_false_recognition_bound() -> None:
    own = [_flickering(i % 3, (i + 1) % 3) for i in range(30)]
    other = [_replay(-1, [[0.4, 0.3, 0.3]] * 5)]
    belief, rule, found = best_belief(own, other, max_false=0.0, taus_ms=(0.0, 300.0))
    # without a filter the spikes (0.9 on a wrong class) force a threshold no drawing reaches
    assert found["0.0"]["threshold"] > 0.9 and found["0.0"]["recognition_live_raw"] == 0.0
    assert belief == BeliefFilter(300.0) and rule.threshold < 0.6
    assert found["300.0"]["recognition_live_raw"] == 1.0
    # and on the filtered belief the rule accepts no wrong prompt, settling included
    m = live_metrics(smoothed(own, belief), rule, ["a", "b", "c"], smoothed(other, belief))
    assert m["false_recognition_wrong_prompt"]["rate"] == 0.0
    assert m["false_recognition_other_categories"]["rate"] == 0.0
