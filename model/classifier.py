"""Inference: a loaded artifact as a numpy-only classifier.

BatchNorm and the input scale are folded into the linear layers at load, so a forward pass
is a few ``float32`` matrix products; torch is not imported at inference.  The artifact's
calibration temperature divides the logits, and its recognition rule decides when a drawing
counts as its prompt (:meth:`Classifier.recognizes`).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from model import sparse_mlp
from model.artifact import ArtifactError, load_artifact
from model.belief import IDENTITY, Belief, BeliefFilter
from model.network import MLPConfig, fold_batchnorm
from model.raster import IMAGE_SIZE, Drawing, drawings_to_images
from model.recognition import DEFAULT_RULE, RecognitionRule

__all__ = ["Classifier", "load_classifier"]

_NPIX = IMAGE_SIZE * IMAGE_SIZE
#: below this many drawings per call, the forward pass skips zero inputs (model.sparse_mlp);
#: measured crossover with the float32 matrix product: ~12-16 (docs/BENCHMARKS.md)
SPARSE_BELOW = 12


class Classifier:
    """A trained doodle classifier.

    * ``labels``: the Quick, Draw! category names, in output order.
    * ``predict(drawings)``: probabilities (N, len(labels)) for drawings in any coordinate
      space (see :mod:`model.raster` for the accepted format); they are normalized and
      rasterized with the shared rasterizer first (vectorized across the batch).
    * ``predict_images(images)``: the same for 28x28 uint8 images (ink 255 on 0), e.g.
      from :func:`model.drawing_to_image`, so callers can batch across players.

    * ``recognizes(probs_row, label)``: the game's recognition rule (calibrated with the
      weights, stored in the metadata's ``recognition``) on one row of the live belief.
    * ``new_belief()``: a player's live belief (:class:`model.Belief`), fed one row of
      ``predict`` per update of their drawing; its filter (``belief``, metadata
      ``recognition.belief``, the identity if absent) is calibrated with the rule, which
      applies to the rows it returns.
    * ``temperature``: the logits are divided by it (metadata ``calibration``; 1 if absent).

    A drawing with no ink (no finite point), and an all-zero image, gets the uniform
    distribution ``1 / len(labels)`` in every column: the model has no opinion yet.
    """

    def __init__(
        self,
        tensors: dict[str, npt.NDArray[np.float32]],
        metadata: dict[str, Any],
        config: MLPConfig,
    ) -> None:
        self.metadata: dict[str, Any] = metadata
        self.config: MLPConfig = config
        self.labels: list[str] = list(metadata["labels"])
        self._index = {label: i for i, label in enumerate(self.labels)}
        self._layers = fold_batchnorm(config, tensors)
        #: batches smaller than this skip the zero inputs (:mod:`model.sparse_mlp`; 0 without
        #: numba): cheaper than the matrix product there, whose cost is the weights' reading
        self.sparse_below: int = SPARSE_BELOW if sparse_mlp.HAVE_NUMBA else 0
        try:
            self.temperature = float(metadata.get("calibration", {}).get("temperature", 1.0))
            rule = metadata.get("recognition")
            self.rule = DEFAULT_RULE if rule is None else RecognitionRule.from_json(rule)
            self.belief = IDENTITY if rule is None else BeliefFilter.from_json(rule.get("belief"))
        except (AttributeError, KeyError, TypeError, ValueError) as exc:
            raise ArtifactError(f"bad calibration or recognition metadata: {exc!r}") from exc
        if not (np.isfinite(self.temperature) and self.temperature > 0):
            raise ArtifactError(f"calibration temperature {self.temperature} is not positive")

    @property
    def num_classes(self) -> int:
        return len(self.labels)

    def logits_from_images(self, images: npt.ArrayLike) -> npt.NDArray[np.float32]:
        x = _as_batch(images)
        if x.shape[0] < self.sparse_below:
            return sparse_mlp.forward(self._layers, x)
        h = x.astype(np.float32)
        last = len(self._layers) - 1
        for i, (w, b) in enumerate(self._layers):
            h = h @ w
            h += b
            if i != last:
                np.maximum(h, 0.0, out=h)
        return h

    def predict_images(self, images: npt.ArrayLike) -> npt.NDArray[np.float32]:
        """Probabilities (N, len(labels)) for images (N, 28, 28) or (N, 784), uint8 0..255
        (float arrays in the same 0..255 range are accepted)."""
        x = _as_batch(images)
        if x.shape[0] == 0:
            return np.zeros((0, self.num_classes), dtype=np.float32)
        logits = self.logits_from_images(x)
        if self.temperature != 1.0:
            logits /= self.temperature
        logits -= logits.max(axis=1, keepdims=True)
        np.exp(logits, out=logits)
        logits /= logits.sum(axis=1, keepdims=True)
        blank = ~x.any(axis=1)
        if blank.any():
            logits[blank] = 1.0 / self.num_classes
        return logits

    def predict(self, drawings: Sequence[Drawing]) -> npt.NDArray[np.float32]:
        """Probabilities (len(drawings), len(labels)); rows sum to 1."""
        if len(drawings) == 0:
            return np.zeros((0, self.num_classes), dtype=np.float32)
        return self.predict_images(drawings_to_images(drawings))

    def new_belief(self) -> Belief:
        """A player's live belief, filtered with the artifact's calibrated ``belief``."""
        return Belief(self.belief)

    def recognizes(self, probs: npt.ArrayLike, label: str) -> bool:
        """Whether one row of the live belief (:meth:`Belief.update` of the rows of
        :meth:`predict`; with the identity filter, a row of :meth:`predict` itself)
        recognizes the drawing as ``label`` (the artifact's calibrated rule; ``False`` for a
        label the model does not know)."""
        index = self._index.get(label)
        return index is not None and self.rule.accepts(probs, index)

    def top_k(self, probs: npt.ArrayLike, k: int = 3) -> list[list[tuple[str, float]]]:
        """The ``k`` most likely (label, probability) pairs of every row of ``probs``."""
        p = np.asarray(probs)
        if p.ndim == 1:
            p = p[None, :]
        k = max(0, min(k, self.num_classes))
        order = np.argsort(-p, axis=1, kind="stable")[:, :k]
        return [
            [(self.labels[j], float(row[j])) for j in idx]
            for row, idx in zip(p, order, strict=True)
        ]


def _as_batch(images: npt.ArrayLike) -> npt.NDArray[Any]:
    x = np.asarray(images)
    if x.ndim == 2 and x.shape == (IMAGE_SIZE, IMAGE_SIZE):
        raise ValueError("predict_images expects a batch: pass images[None] for one image")
    if x.ndim == 3 and x.shape[1:] == (IMAGE_SIZE, IMAGE_SIZE):
        x = x.reshape(x.shape[0], _NPIX)
    if x.ndim != 2 or x.shape[1] != _NPIX:
        raise ValueError(f"expected images of shape (N, 28, 28) or (N, 784), got {x.shape}")
    return x


def load_classifier(path: str | Path | None = None) -> Classifier:
    """Load and verify an artifact (default: the shipped ``model/artifacts/doodle-mlp-v1``).

    ``path`` may name the ``.json`` metadata, the ``.safetensors`` weights or their common
    stem.  Raises :class:`model.ArtifactError` if the files are missing, do not match their
    recorded sha256, or do not fit the recorded architecture / rasterizer version.
    """
    tensors, meta, config = load_artifact(path)
    return Classifier(tensors, meta, config)
