"""The classifier's architecture: the seed's MLP family (784 inputs, hidden layers of
Linear -> BatchNorm -> ReLU -> Dropout, a linear output layer).

This module is what loading needs; training lives in ``training/`` and serving never
imports it.  :func:`fold_batchnorm` turns trained weights into plain affine layers for the
numpy forward pass used at inference.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

N_INPUTS = 28 * 28
BN_EPS = 1e-5

__all__ = ["BN_EPS", "N_INPUTS", "MLPConfig", "build_mlp", "fold_batchnorm"]


@dataclass(frozen=True)
class MLPConfig:
    """Architecture of one MLP: ``n_inputs -> hidden... -> n_classes``."""

    n_classes: int
    hidden: tuple[int, ...] = (128,)
    dropout: float = 0.0
    batchnorm: bool = True
    n_inputs: int = N_INPUTS
    #: inputs are ``pixel / 255`` (uint8 image, ink 255 on 0)
    input_scale: float = field(default=1.0 / 255.0)

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["hidden"] = list(self.hidden)
        return d

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> MLPConfig:
        return cls(
            n_classes=int(d["n_classes"]),
            hidden=tuple(int(h) for h in d["hidden"]),
            dropout=float(d.get("dropout", 0.0)),
            batchnorm=bool(d.get("batchnorm", True)),
            n_inputs=int(d.get("n_inputs", N_INPUTS)),
            input_scale=float(d.get("input_scale", 1.0 / 255.0)),
        )

    def tensor_shapes(self) -> dict[str, tuple[int, ...]]:
        """Names and shapes of the state dict of :func:`build_mlp` (buffers included)."""
        shapes: dict[str, tuple[int, ...]] = {}
        width = self.n_inputs
        for i, h in enumerate(self.hidden):
            shapes[f"hidden.{i}.linear.weight"] = (h, width)
            shapes[f"hidden.{i}.linear.bias"] = (h,)
            if self.batchnorm:
                for name in ("weight", "bias", "running_mean", "running_var"):
                    shapes[f"hidden.{i}.bn.{name}"] = (h,)
            width = h
        shapes["out.weight"] = (self.n_classes, width)
        shapes["out.bias"] = (self.n_classes,)
        return shapes


def build_mlp(config: MLPConfig) -> Any:
    """A ``torch.nn.Module`` taking float inputs ``pixel * input_scale`` of shape (N, 784)."""
    import torch
    from torch import nn

    class Block(nn.Module):
        def __init__(self, n_in: int, n_out: int) -> None:
            super().__init__()
            self.linear = nn.Linear(n_in, n_out)
            self.bn = nn.BatchNorm1d(n_out, eps=BN_EPS) if config.batchnorm else nn.Identity()
            self.act = nn.ReLU()
            self.drop = nn.Dropout(config.dropout) if config.dropout > 0 else nn.Identity()

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.drop(self.act(self.bn(self.linear(x))))

    class MLP(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            blocks = []
            width = config.n_inputs
            for h in config.hidden:
                blocks.append(Block(width, h))
                width = h
            self.hidden = nn.Sequential(*blocks)
            self.out = nn.Linear(width, config.n_classes)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.out(self.hidden(x))

    return MLP()


Layer = tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]


def fold_batchnorm(
    config: MLPConfig, tensors: Mapping[str, npt.NDArray[np.floating]]
) -> list[Layer]:
    """Affine layers ``(W (in, out), b (out,))`` of the eval-mode network, BatchNorm folded
    into the preceding Linear layer and the input scale folded into the first layer.  ReLU
    follows every layer but the last."""
    layers: list[Layer] = []
    for i in range(len(config.hidden)):
        w = np.asarray(tensors[f"hidden.{i}.linear.weight"], dtype=np.float64)
        b = np.asarray(tensors[f"hidden.{i}.linear.bias"], dtype=np.float64)
        if config.batchnorm:
            gamma = np.asarray(tensors[f"hidden.{i}.bn.weight"], dtype=np.float64)
            beta = np.asarray(tensors[f"hidden.{i}.bn.bias"], dtype=np.float64)
            mean = np.asarray(tensors[f"hidden.{i}.bn.running_mean"], dtype=np.float64)
            var = np.asarray(tensors[f"hidden.{i}.bn.running_var"], dtype=np.float64)
            k = gamma / np.sqrt(var + BN_EPS)
            w = w * k[:, None]
            b = (b - mean) * k + beta
        layers.append((w, b))
    layers.append(
        (
            np.asarray(tensors["out.weight"], dtype=np.float64),
            np.asarray(tensors["out.bias"], dtype=np.float64),
        )
    )
    w0, b0 = layers[0]
    layers[0] = (w0 * config.input_scale, b0)
    return [(np.ascontiguousarray(w.T, dtype=np.float32), b.astype(np.float32)) for w, b in layers]
