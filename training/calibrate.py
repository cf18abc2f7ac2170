"""Calibration on the validation split: ``python -m training calibrate --model A.json``.

1. Temperature scaling: the temperature that minimizes the negative log-likelihood of the
   validation images (Google bitmaps + held-out stroke renders); expected calibration error
   (ECE, 15 equal-width confidence bins) before and after.
2. The live belief filter (:mod:`model.belief`) and the recognition rule
   (:mod:`model.recognition`), together: live replay (:mod:`training.live`) of the
   validation stroke drawings and of drawings of categories outside the vocabulary (all but
   their test split); for each filter the rule kind and threshold with the highest live
   recognition whose false recognition (wrong prompts; other categories) on the filtered
   belief (settled, as the server does, after every pause of ``training.live.SETTLE_MS`` and
   on the finished drawing) is at most 1%, then, of the filters whose rule
   recognizes nearly the most drawings with real timings while they are drawn (within 1
   point), the one with the fewest top-1 changes (:func:`training.live.best_belief`).  The
   live figures under the chosen filter and rule (recognition, false recognition, top-1
   changes, first guess) are stored beside it (``validation_live``): models are compared on
   them.

Both are written into the artifact's metadata (``calibration``, ``recognition``); the JSON
is not covered by the weights' hash, the weights are unchanged.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from model.artifact import DEFAULT_ARTIFACT
from model.classifier import Classifier, load_classifier
from training.corpus import build_corpus
from training.live import (
    best_belief,
    heldout_drawings,
    live_metrics_by_source,
    other_categories,
    replay,
    smoothed,
)

__all__ = ["MAX_FALSE_RECOGNITION", "calibrate", "ece", "fit_temperature", "softmax"]

MAX_FALSE_RECOGNITION = 0.01
ECE_BINS = 15


def softmax(logits: npt.NDArray[np.floating], temperature: float = 1.0) -> npt.NDArray[np.float64]:
    z = np.asarray(logits, dtype=np.float64) / temperature
    z -= z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def _nll(logits: npt.NDArray[np.floating], y: npt.NDArray[np.int64], t: float) -> float:
    p = softmax(logits, t)[np.arange(len(y)), y]
    return float(-np.log(np.maximum(p, 1e-12)).mean())


def fit_temperature(logits: npt.NDArray[np.floating], y: npt.NDArray[np.int64]) -> float:
    """The temperature minimizing the NLL (golden-section search on log T in [1/8, 8])."""
    lo, hi = math.log(0.125), math.log(8.0)
    g = (math.sqrt(5) - 1) / 2
    a, b = hi - g * (hi - lo), lo + g * (hi - lo)
    fa, fb = _nll(logits, y, math.exp(a)), _nll(logits, y, math.exp(b))
    for _ in range(60):
        if fa < fb:
            hi, b, fb = b, a, fa
            a = hi - g * (hi - lo)
            fa = _nll(logits, y, math.exp(a))
        else:
            lo, a, fa = a, b, fb
            b = lo + g * (hi - lo)
            fb = _nll(logits, y, math.exp(b))
    return round(math.exp((lo + hi) / 2), 4)


def ece(probs: npt.NDArray[np.floating], y: npt.NDArray[np.int64], bins: int = ECE_BINS) -> float:
    """Expected calibration error of the top-1 confidence (equal-width bins)."""
    conf = probs.max(axis=1)
    correct = probs.argmax(axis=1) == y
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(conf, edges[1:-1]), 0, bins - 1)
    total = 0.0
    for b in range(bins):
        m = which == b
        if m.any():
            total += m.mean() * abs(correct[m].mean() - conf[m].mean())
    return float(total)


def calibration_figures(logits: npt.NDArray[np.floating], y: npt.NDArray[np.int64], t: float):
    """NLL and ECE of ``logits`` at temperature 1 and ``t``."""
    return {
        "nll_before": _nll(logits, y, 1.0),
        "nll_after": _nll(logits, y, t),
        "ece_before": ece(softmax(logits), y),
        "ece_after": ece(softmax(logits, t), y),
        "n": len(y),
    }


def calibrate(
    model_path: Path | None, max_false: float = MAX_FALSE_RECOGNITION, write: bool = True
) -> dict[str, Any]:
    """Fit the temperature and the recognition rule of an artifact on validation data and
    (``write``) store them in its metadata.  Returns the two metadata sections."""
    path = Path(model_path or DEFAULT_ARTIFACT)
    clf = load_classifier(path)
    corpus = build_corpus(clf.labels, render_train=False)
    logits = clf.logits_from_images(corpus.val.x)
    temperature = fit_temperature(logits, corpus.val.y)
    clf.temperature = temperature
    calibration = {
        "temperature": temperature,
        "fitted_on": "validation split (Google bitmaps + held-out stroke renders)",
        "validation": calibration_figures(logits, corpus.val.y, temperature),
    }
    vocab, others = live_sets(clf, ("val",), ("train", "val"))
    belief, rule, candidates = best_belief(vocab, others, max_false)
    unfiltered = candidates.get("0.0")
    recognition = {
        **rule.to_json(),
        "belief": belief.to_json(),
        "max_false_recognition": max_false,
        "calibrated_on": (
            f"live replay of {len(vocab)} validation stroke drawings (wrong prompts) and "
            f"{len(others)} drawings of categories outside the vocabulary (train+val split)"
        ),
        "unfiltered": unfiltered and {k: unfiltered[k] for k in ("rule", "threshold")},
        "candidates": candidates,
        "validation_live": live_metrics_by_source(
            smoothed(vocab, belief), rule, clf.labels, smoothed(others, belief)
        ),
    }
    if write:
        json_path = path if path.suffix == ".json" else path.with_suffix(".json")
        meta = json.loads(json_path.read_text())
        meta["calibration"] = calibration
        meta["recognition"] = recognition
        json_path.write_text(json.dumps(meta, indent=2) + "\n")
    return {"calibration": calibration, "recognition": recognition}


def live_sets(
    clf: Classifier, vocab_splits: tuple[Any, ...], other_splits: tuple[Any, ...]
) -> tuple[list[Any], list[Any]]:
    """Replays of the vocabulary's held-out drawings in ``vocab_splits`` and of the other
    categories' drawings in ``other_splits``."""
    index = {label: i for i, label in enumerate(clf.labels)}
    vocab = replay(clf, heldout_drawings(clf.labels, vocab_splits), index.__getitem__)
    others = replay(
        clf, heldout_drawings(other_categories(clf.labels), other_splits), lambda _c: -1
    )
    return vocab, others
