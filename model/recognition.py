"""The recognition rule: when the game accepts a drawing as its prompt.

The rule and its threshold are calibrated with the weights (``python -m training calibrate``)
and stored in the artifact's metadata (``recognition``); :meth:`model.Classifier.recognizes`
applies it to one row of ``predict``.  Two kinds of rule:

* ``target``: the prompt's probability is at least ``threshold`` (what Google's game did:
  the target category scored above a fixed threshold);
* ``top1``: the prompt is the top guess and its probability is at least ``threshold``.

:func:`rule_scores` is the one implementation, vectorized for the evaluation.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

__all__ = ["DEFAULT_RULE", "RULE_KINDS", "RecognitionRule", "rule_scores"]

RuleKind = Literal["target", "top1"]
RULE_KINDS: tuple[RuleKind, ...] = ("target", "top1")


def rule_scores(kind: RuleKind, probs: npt.NDArray[np.floating]) -> npt.NDArray[np.floating]:
    """Per (row, class) the value compared with the threshold: the probability (``target``),
    or the probability where the class is the row's top guess and 0 elsewhere (``top1``)."""
    p = np.asarray(probs)
    if kind == "target":
        return p
    if kind == "top1":
        top = p.argmax(axis=-1)
        out = np.zeros_like(p)
        np.put_along_axis(out, top[..., None], np.take_along_axis(p, top[..., None], -1), -1)
        return out
    raise ValueError(f"unknown recognition rule {kind!r}")


@dataclass(frozen=True)
class RecognitionRule:
    kind: RuleKind
    threshold: float

    def accepts(self, probs: npt.ArrayLike, index: int) -> bool:
        """Whether one row of probabilities recognizes class ``index``."""
        row = np.asarray(probs, dtype=np.float64)
        if row.ndim != 1:
            raise ValueError(f"expected one row of probabilities, got shape {row.shape}")
        return bool(rule_scores(self.kind, row[None])[0, index] >= self.threshold)

    def to_json(self) -> dict[str, Any]:
        return {"rule": self.kind, "threshold": self.threshold}

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> RecognitionRule:
        kind = d["rule"]
        if kind not in RULE_KINDS:
            raise ValueError(f"unknown recognition rule {kind!r}")
        threshold = float(d["threshold"])
        if not 0.0 < threshold <= 1.0:
            raise ValueError(f"recognition threshold {threshold} is not in (0, 1]")
        return cls(kind=kind, threshold=threshold)


#: the rule of artifacts calibrated before rules were stored: top guess with p >= 0.30
DEFAULT_RULE = RecognitionRule(kind="top1", threshold=0.30)
