"""``model.sparse_mlp``: a few drawings at a time skip the zero inputs. On the live prefixes of
real drawings, rendered as the server renders them, it gives the matrix product's probabilities
up to float32 rounding, the same top guesses and the same recognitions; each drawing's result
depends on that drawing alone."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pytest

from model import Classifier, IncrementalRaster, load_classifier, sparse_mlp
from model.classifier import SPARSE_BELOW
from model.recognition import rule_scores
from tests.quickdraw import point_strokes, raw_drawings, update_batches

CATEGORIES = ("cat", "bicycle", "tree", "airplane", "house", "fish")
ROUNDING = 1e-5  # the guesses carry 4 decimals; float32 sums in another order differ by ~1e-6


@pytest.fixture(scope="module")
def clf() -> Classifier:
    return load_classifier()


@pytest.fixture(scope="module")
def live() -> tuple[npt.NDArray[np.uint8], list[str]]:
    """Every update's image of 12 real drawings per category, as the server's raster makes
    them while the drawing streams in (16-point updates), with the drawing's category."""
    images, labels = [], []
    for category in CATEGORIES:
        for record in raw_drawings(category)[:12]:
            sketch = IncrementalRaster()
            for stroke, points in update_batches(point_strokes(record)):
                sketch.apply_points(stroke, points)
                images.append(sketch.image())
                labels.append(category)
    return np.stack(images), labels


def matrix_product(clf: Classifier, images: npt.NDArray[np.uint8]) -> npt.NDArray[np.float32]:
    saved, clf.sparse_below = clf.sparse_below, 0
    try:
        return clf.predict_images(images)
    finally:
        clf.sparse_below = saved


def test_a_few_drawings_take_the_sparse_path(clf: Classifier) -> None:
    assert sparse_mlp.HAVE_NUMBA  # the "fast" extra, installed with "dev"
    assert clf.sparse_below == SPARSE_BELOW > 1


def test_the_same_guesses_and_recognitions_as_the_matrix_product(
    clf: Classifier, live: tuple[npt.NDArray[np.uint8], list[str]]
) -> None:
    images, labels = live
    assert len(images) > 1000
    sizes = [1 + i % (SPARSE_BELOW - 1) for i in range(len(images))]  # batches of 1..11
    cuts = np.cumsum(sizes)[np.cumsum(sizes) < len(images)]
    sparse = np.concatenate([clf.predict_images(b) for b in np.split(images, cuts)])
    dense = matrix_product(clf, images)  # one batch: the matrix product
    assert np.abs(sparse - dense).max() < ROUNDING
    # the top 3 in the same order, wherever no two of the top 4 are within the rounding
    order_s = np.argsort(-sparse, axis=1, kind="stable")[:, :3]
    order_d = np.argsort(-dense, axis=1, kind="stable")[:, :3]
    top4 = -np.sort(-dense, axis=1)[:, :4]
    clear = (np.diff(-top4, axis=1) > ROUNDING).all(axis=1)
    assert clear.mean() > 0.95
    assert (order_s[clear] == order_d[clear]).all()
    # the artifact's rule recognizes the same prefixes, away from the threshold's edge
    index = np.array([clf.labels.index(c) for c in labels])
    rows = np.arange(len(images))
    score_s = rule_scores(clf.rule.kind, sparse)[rows, index]
    score_d = rule_scores(clf.rule.kind, dense)[rows, index]
    edge = np.abs(score_d - clf.rule.threshold) <= ROUNDING
    assert (score_d >= clf.rule.threshold).sum() > 50  # the prefixes include recognized ones
    assert ((score_s >= clf.rule.threshold) == (score_d >= clf.rule.threshold))[~edge].all()


def test_each_drawings_result_depends_on_it_alone(
    clf: Classifier, live: tuple[npt.NDArray[np.uint8], list[str]]
) -> None:
    images, _ = live
    batch = images[100 : 100 + SPARSE_BELOW - 1]
    together = clf.logits_from_images(batch)
    for i, image in enumerate(batch):
        assert np.array_equal(clf.logits_from_images(image[None])[0], together[i])


def test_zero_inputs_and_hidden_units_are_skipped_exactly() -> None:
    """One layer by hand: the skipped terms are the zero (first layer) or non-positive (ReLU)
    inputs, the others summed in float32 in input order, then the bias."""
    w = np.array([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]], dtype=np.float32)
    b = np.array([0.5, -0.5], dtype=np.float32)
    w2 = np.array([[1.0], [10.0]], dtype=np.float32)
    b2 = np.array([0.25], dtype=np.float32)
    x = np.array([[0, 2, 1], [0, 0, 0]], dtype=np.uint8)
    # layer 1: [2*3 + 1*5 + .5, 2*4 + 1*6 - .5] = [11.5, 13.5]; blank: [.5, -.5]
    # layer 2 (ReLU inputs): 11.5 + 135 + .25 = 146.75; blank: .5 + .25 (the -.5 skipped)
    out = sparse_mlp.forward([(w, b), (w2, b2)], x)
    np.testing.assert_array_equal(out, np.array([[146.75], [0.75]], dtype=np.float32))
