"""The batched top guesses are each row's stable sort (ties: the lower label index first)."""

from __future__ import annotations

import numpy as np

from game_server.inference import TOP_K, top_guesses_batch


def stable_top(labels: list[str], row: np.ndarray) -> list[dict[str, object]]:
    order = np.argsort(-row, kind="stable")[:TOP_K]
    return [{"label": labels[i], "p": round(float(row[i]), 4)} for i in order]


def test_top_guesses_batch_equals_a_stable_sort_of_each_row_ties_included() -> None:
    rng = np.random.default_rng(7)
    labels = [f"label{i}" for i in range(87)]
    for decimals in (1, 2, 6):  # coarse rounding: many ties, also at the K-th value
        probs = np.round(rng.random((33, len(labels))), decimals)
        probs[0] = 1 / len(labels)  # a blank drawing: every label ties
        probs[1, [5, 9, 40]] = 2.0  # three tied at the top
        got = top_guesses_batch(labels, probs)
        assert got == [stable_top(labels, row) for row in probs]
    assert top_guesses_batch(labels, np.zeros((0, len(labels)))) == []
