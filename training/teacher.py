"""The teacher: a small CNN trained on the same split and pool as the MLP, to distill from.

Never shipped (serving stays the numpy MLP); saved as a torch checkpoint
``{"labels", "state"}`` by ``python -m training train --arch cnn --out runs/teacher``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

__all__ = ["build_cnn", "load_teacher"]


def build_cnn(n_classes: int, channels: tuple[int, int, int] = (16, 32, 64)) -> nn.Module:
    """Three conv blocks (3x3 conv, BatchNorm, ReLU, 2x2 max-pool), a 256-unit hidden layer;
    inputs (N, 784) in [0, 1] like the MLP's."""
    a, b, c = channels
    layers: list[nn.Module] = [nn.Unflatten(1, (1, 28, 28))]
    for n_in, n_out in ((1, a), (a, b), (b, c)):
        layers += [
            nn.Conv2d(n_in, n_out, 3, padding=1),
            nn.BatchNorm2d(n_out),
            nn.ReLU(),
            nn.MaxPool2d(2),
        ]
    layers += [
        nn.Flatten(),
        nn.Linear(c * 3 * 3, 256),
        nn.BatchNorm1d(256),
        nn.ReLU(),
        nn.Dropout(0.2),
        nn.Linear(256, n_classes),
    ]
    return nn.Sequential(*layers)


def load_teacher(path: Path) -> tuple[nn.Module, list[str]]:
    ckpt: dict[str, Any] = torch.load(path, map_location="cpu", weights_only=True)
    labels = list(ckpt["labels"])
    model = build_cnn(len(labels))
    model.load_state_dict(ckpt["state"])
    model.eval()
    return model, labels
