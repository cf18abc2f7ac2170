"""The live belief (model.Belief): one player's probability rows filtered over time."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from model import Belief, BeliefFilter
from model.belief import IDENTITY, update_beliefs


def kl(p: np.ndarray, q: np.ndarray) -> float:
    return float(np.sum(p * np.log(p / q)))


def test_identity_filter_returns_each_row_as_it_is() -> None:
    rng = np.random.default_rng(1)
    belief = Belief(IDENTITY)
    for t, row in enumerate(rng.dirichlet(np.ones(87), 20)):
        out = belief.update(row.astype(np.float32), 100.0 * t)
        assert np.array_equal(out, row.astype(np.float32).astype(np.float64))
    assert Belief().params == IDENTITY == BeliefFilter.from_json(None)


def test_first_row_after_a_reset_is_the_belief() -> None:
    belief = Belief(BeliefFilter(500.0))
    a, b = np.array([0.7, 0.2, 0.1]), np.array([0.1, 0.1, 0.8])
    np.testing.assert_allclose(belief.update(a, 0.0), a)
    assert belief.update(b, 100.0)[0] > 0.5  # one update of b is not enough to forget a
    belief.reset()
    np.testing.assert_allclose(belief.update(b, 200.0), b)


def test_constant_input_is_a_fixed_point_and_is_approached_monotonically() -> None:
    belief = Belief(BeliefFilter(300.0))
    start, q = np.array([0.9, 0.05, 0.05]), np.array([0.2, 0.3, 0.5])
    belief.update(start, 0.0)
    kls, p2 = [], []
    for t in range(100, 3100, 100):
        out = belief.update(q, float(t))
        np.testing.assert_allclose(out.sum(), 1.0)
        kls.append(kl(out, q))
        p2.append(out[2])
    assert all(b < a for a, b in itertools.pairwise(kls))  # strictly closer each time
    assert all(b > a for a, b in itertools.pairwise(p2))  # the new top class rises
    assert kls[-1] < 1e-6
    belief.reset()
    for t in range(5):
        np.testing.assert_allclose(belief.update(q, 100.0 * t), q)


def test_the_filter_runs_on_the_drawing_clock_not_on_the_update_count() -> None:
    a, b = np.array([0.6, 0.3, 0.1]), np.array([0.1, 0.3, 0.6])
    coarse, fine = Belief(BeliefFilter(400.0)), Belief(BeliefFilter(400.0))
    coarse.update(a, 0.0)
    fine.update(a, 0.0)
    once = coarse.update(b, 200.0)
    for t in (50.0, 100.0, 150.0, 200.0):  # the same row, classified four times as often
        often = fine.update(b, t)
    np.testing.assert_allclose(often, once, rtol=1e-12)
    # a clock that goes back (an undo) or stands still adds no time: the belief stays
    np.testing.assert_allclose(coarse.update(a, 150.0), once)
    np.testing.assert_allclose(coarse.update(a, 200.0), once)


def test_settle_takes_the_finished_drawing_as_it_is() -> None:
    belief = Belief(BeliefFilter(800.0))
    a, b = np.array([0.8, 0.1, 0.1]), np.array([0.1, 0.1, 0.8])
    belief.update(a, 0.0)
    assert belief.update(b, 100.0)[2] < 0.5
    np.testing.assert_allclose(belief.settle(b), b)
    np.testing.assert_allclose(belief.update(b, 100.0), b)  # and goes on from there


def test_run_is_update_row_by_row() -> None:
    rng = np.random.default_rng(2)
    rows, times = rng.dirichlet(np.ones(5), 12), np.cumsum(rng.uniform(20, 200, 12))
    params = BeliefFilter(250.0)
    belief = Belief(params)
    expected = np.stack([belief.update(r, t) for r, t in zip(rows, times, strict=True)])
    np.testing.assert_array_equal(params.run(rows, times), expected)
    np.testing.assert_array_equal(IDENTITY.run(rows, times), rows)


def test_parameters_round_trip_and_bad_ones_are_refused() -> None:
    params = BeliefFilter(500.0)
    assert BeliefFilter.from_json(params.to_json()) == params
    for bad in ({"filter": "kalman", "tau_ms": 1}, {"filter": "log_ema"}):
        with pytest.raises((ValueError, KeyError)):
            BeliefFilter.from_json(bad)
    for tau in (-1.0, float("nan"), float("inf")):
        with pytest.raises(ValueError):
            BeliefFilter(tau)
    with pytest.raises(ValueError):
        Belief(params).update(np.ones((2, 3)) / 3, 0.0)


def test_a_batch_of_beliefs_updates_like_each_one_alone() -> None:
    rng = np.random.default_rng(3)
    params = [BeliefFilter(300.0), IDENTITY, BeliefFilter(800.0), BeliefFilter(300.0)]
    batch, alone = [Belief(p) for p in params], [Belief(p) for p in params]
    for step in range(6):
        rows = rng.dirichlet(np.ones(87), len(params)).astype(np.float32)
        times = [100.0 * step + 10 * i for i in range(len(params))]
        if step == 3:
            batch[0].reset()
            alone[0].reset()
        got = update_beliefs(batch, rows, times)
        expected = [b.update(r, t) for b, r, t in zip(alone, rows, times, strict=True)]
        np.testing.assert_allclose(got, np.stack(expected), rtol=1e-12, atol=1e-15)
    assert update_beliefs([], np.zeros((0, 87)), []).shape == (0, 87)
    with pytest.raises(ValueError):
        update_beliefs(batch, np.ones((2, 87)) / 87, [0.0, 0.0])
