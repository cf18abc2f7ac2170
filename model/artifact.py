"""Artifact files: ``<name>.safetensors`` (weights) + ``<name>.json`` (metadata).

The JSON records labels, architecture, rasterizer version, training command and config,
data fingerprint, metrics, attribution and the sha256 of the weights file.  Loading checks
the hash, the tensor names/shapes against the architecture and the rasterizer version, and
raises :class:`ArtifactError` on any mismatch.  Weights are read with safetensors (no
pickle).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from model.network import MLPConfig
from model.raster import RASTER_VERSION

__all__ = [
    "ARTIFACT_DIR",
    "ATTRIBUTION",
    "DEFAULT_ARTIFACT",
    "FORMAT_VERSION",
    "ArtifactError",
    "load_artifact",
    "save_artifact",
    "sha256_file",
]

ARTIFACT_DIR = Path(__file__).resolve().parent / "artifacts"
DEFAULT_ARTIFACT = ARTIFACT_DIR / "doodle-mlp-v1.json"
FORMAT_VERSION = 1
ATTRIBUTION = (
    "Trained on drawings from the Quick, Draw! dataset by Google "
    "(https://github.com/googlecreativelab/quickdraw-dataset), available under the "
    "Creative Commons Attribution 4.0 International license (CC BY 4.0, "
    "https://creativecommons.org/licenses/by/4.0/)."
)


class ArtifactError(Exception):
    """The artifact is missing, corrupted, tampered with or incompatible."""


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _paths(path: str | Path) -> tuple[Path, Path]:
    """Accept the .json, the .safetensors or the stem; return (json, weights)."""
    p = Path(path)
    if p.suffix == ".json":
        return p, p.with_suffix(".safetensors")
    if p.suffix == ".safetensors":
        return p.with_suffix(".json"), p
    return p.with_name(p.name + ".json"), p.with_name(p.name + ".safetensors")


def save_artifact(
    path: str | Path,
    tensors: Mapping[str, npt.NDArray[np.floating]],
    metadata: Mapping[str, Any],
    dtype: str = "float32",
) -> tuple[Path, Path]:
    """Write weights + metadata.  ``metadata`` must hold ``labels`` and ``architecture``;
    ``weights_sha256``, ``weights_file``, ``raster_version``, ``format_version`` and
    ``attribution`` are filled in here."""
    from safetensors.numpy import save_file

    json_path, weights_path = _paths(path)
    json_path.parent.mkdir(parents=True, exist_ok=True)
    arrays = {k: np.ascontiguousarray(v, dtype=dtype) for k, v in tensors.items()}
    save_file(arrays, str(weights_path))
    weights_path.chmod(0o644)
    meta = dict(metadata)
    meta["format_version"] = FORMAT_VERSION
    meta.setdefault("raster_version", RASTER_VERSION)
    meta["attribution"] = ATTRIBUTION
    meta["weights_file"] = weights_path.name
    meta["weights_dtype"] = dtype
    meta["weights_sha256"] = sha256_file(weights_path)
    _validate_meta(meta, arrays)
    json_path.write_text(json.dumps(meta, indent=2, sort_keys=False) + "\n")
    return json_path, weights_path


def _validate_meta(meta: Mapping[str, Any], arrays: Mapping[str, np.ndarray]) -> MLPConfig:
    try:
        labels = meta["labels"]
        config = MLPConfig.from_json(meta["architecture"])
    except (KeyError, TypeError, ValueError) as exc:
        raise ArtifactError(f"artifact metadata is incomplete: {exc!r}") from exc
    if not isinstance(labels, list) or not all(isinstance(s, str) for s in labels):
        raise ArtifactError("metadata 'labels' must be a list of strings")
    if len(set(labels)) != len(labels):
        raise ArtifactError("metadata 'labels' has duplicates")
    if config.n_classes != len(labels):
        raise ArtifactError(
            f"architecture has {config.n_classes} outputs but there are {len(labels)} labels"
        )
    expected = config.tensor_shapes()
    got = {k: tuple(v.shape) for k, v in arrays.items()}
    if got != expected:
        missing = sorted(set(expected) - set(got))
        extra = sorted(set(got) - set(expected))
        wrong = sorted(k for k in set(got) & set(expected) if got[k] != expected[k])
        raise ArtifactError(
            f"weights do not match the architecture: missing={missing} extra={extra} "
            f"wrong_shape={wrong}"
        )
    for k, v in arrays.items():
        if not np.isfinite(v).all():
            raise ArtifactError(f"tensor {k} holds non-finite values")
    return config


def load_artifact(
    path: str | Path | None = None,
) -> tuple[dict[str, npt.NDArray[np.float32]], dict[str, Any], MLPConfig]:
    """Read and verify an artifact; return (tensors as float32, metadata, architecture)."""
    json_path, weights_path = _paths(DEFAULT_ARTIFACT if path is None else path)
    try:
        meta = json.loads(json_path.read_text())
    except FileNotFoundError as exc:
        raise ArtifactError(f"artifact metadata not found: {json_path}") from exc
    except (OSError, ValueError) as exc:
        raise ArtifactError(f"cannot read artifact metadata {json_path}: {exc}") from exc
    if not isinstance(meta, dict):
        raise ArtifactError(f"artifact metadata {json_path} is not a JSON object")
    if meta.get("format_version") != FORMAT_VERSION:
        raise ArtifactError(f"unsupported artifact format_version {meta.get('format_version')!r}")
    if meta.get("raster_version") != RASTER_VERSION:
        raise ArtifactError(
            f"artifact was trained with rasterizer {meta.get('raster_version')!r}, "
            f"this code has {RASTER_VERSION!r}"
        )
    # the weights sit next to the metadata with the same stem (``weights_file`` records the
    # original name only), so a renamed copy of both files still loads
    if not weights_path.is_file():
        raise ArtifactError(f"artifact weights not found: {weights_path}")
    digest = sha256_file(weights_path)
    if digest != meta.get("weights_sha256"):
        raise ArtifactError(
            f"sha256 mismatch for {weights_path.name}: file has {digest}, "
            f"metadata says {meta.get('weights_sha256')!r} (corrupted or tampered artifact)"
        )
    from safetensors import SafetensorError
    from safetensors.numpy import load_file

    try:
        raw = load_file(str(weights_path))
    except (SafetensorError, OSError, ValueError) as exc:
        raise ArtifactError(f"cannot read weights {weights_path}: {exc}") from exc
    arrays = {k: np.asarray(v, dtype=np.float32) for k, v in raw.items()}
    config = _validate_meta(meta, arrays)
    return arrays, meta, config
