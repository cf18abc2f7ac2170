"""The classifier the benchmarks time: the shipped artifact through ``model.load_classifier``.

With ``--stand-in`` (or if the artifact fails to load) a stand-in with random weights is
built with the model package's own architecture and numpy forward pass
(``model.Classifier``, ``MLPConfig(hidden=...)``); every report says which one was measured
(``model`` field).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["Classifier", "load"]


class Classifier:
    """Uniform view: ``predict_images(uint8 (N, 28, 28)) -> probs (N, C)`` and ``labels``."""

    def __init__(self, impl: Any, kind: str) -> None:
        self.impl = impl
        self.labels: list[str] = list(impl.labels)
        self.kind = kind
        self.predict_images = impl.predict_images

    def predict(self, drawings: list[Any]) -> np.ndarray:
        return np.asarray(self.impl.predict(drawings))


def _describe(clf: Any) -> str:
    meta = getattr(clf, "metadata", {}) or {}
    cfg = getattr(clf, "config", None)
    hidden = "-".join(str(h) for h in getattr(cfg, "hidden", ()))
    name = meta.get("name") or meta.get("artifact") or "shipped"
    return f"artifact {name} (MLP 784-{hidden}-{len(clf.labels)})"


def stand_in(hidden: tuple[int, ...] = (256, 128)) -> Any:
    """``model.Classifier`` with random weights of the given hidden sizes."""
    from bench.data import vocabulary
    from model.classifier import Classifier as ModelClassifier
    from model.network import MLPConfig

    labels = list(vocabulary())
    config = MLPConfig(n_classes=len(labels), hidden=hidden)
    return ModelClassifier(_stand_in_tensors(config), {"labels": labels}, config)


def _stand_in_tensors(config: Any) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    tensors = {}
    for name, shape in config.tensor_shapes().items():
        if name.endswith(("running_var", "bn.weight")):
            tensors[name] = np.ones(shape, dtype=np.float32)
        else:
            tensors[name] = (rng.standard_normal(shape) * 0.05).astype(np.float32)
    return tensors


def load(path: str | None = None, *, use_stand_in: bool = False) -> Classifier:
    """The shipped classifier if it loads, else (or if ``use_stand_in``) the stand-in."""
    if not use_stand_in:
        try:
            from model import load_classifier

            clf = load_classifier(path) if path else load_classifier()
            return Classifier(clf, _describe(clf))
        except Exception as exc:  # ArtifactError, missing files, API not there yet
            reason = f"{type(exc).__name__}: {exc}"[:120]
        else:  # pragma: no cover
            reason = ""
    else:
        reason = "--stand-in"
    clf = stand_in()
    return Classifier(clf, f"STAND-IN MLP 784-256-128-{len(clf.labels)} random weights ({reason})")


def shipped_artifact_loads() -> bool:
    try:
        from model import load_classifier

        load_classifier()
    except Exception:
        return False
    return True


def write_stand_in_artifact(directory: str | Path) -> Path:
    """Save :func:`stand_in` as an artifact (for a server when none is shipped yet)."""
    from model.artifact import save_artifact

    clf = stand_in()
    json_path, _ = save_artifact(
        Path(directory) / "bench-stand-in",
        _stand_in_tensors(clf.config),
        {"labels": clf.labels, "architecture": clf.config.to_json(), "name": "bench-stand-in"},
    )
    return json_path
