"""Augmentations: stroke-level (before rasterizing) and image-level (batched, torch)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import torch
import torch.nn.functional as F

from model.raster import drawings_to_images, normalize_arrays
from training.live import prefix_before

__all__ = ["ImageAug", "StrokeAug", "augment_images", "augment_strokes", "partial_drawing"]


@dataclass(frozen=True)
class StrokeAug:
    """Random transforms of a drawing's strokes (units: the 0..255 normalized space)."""

    partial_prob: float = 0.35  # keep what was drawn before a uniformly random time
    rotate_deg: float = 12.0
    aspect: float = 0.25  # log-uniform x/y stretch in [exp(-a), exp(a)]
    shear: float = 0.15
    flip_prob: float = 0.5  # horizontal flip
    point_jitter: float = 1.5  # gaussian noise per point
    stroke_shift: float = 4.0  # gaussian offset per stroke
    drop_stroke_prob: float = 0.1  # drop one random stroke (not the first) if n >= 3


def partial_drawing(drawing: list[Any], fraction: float) -> list[Any]:
    """The first ``ceil(fraction * n_strokes)`` strokes (at least one)."""
    n = len(drawing)
    k = max(1, math.ceil(fraction * n - 1e-9))
    return list(drawing[:k])


def augment_strokes(
    drawing: list[Any], rng: np.random.Generator, cfg: StrokeAug
) -> tuple[list[npt.NDArray[np.float64]], float]:
    """A random variant of a timed drawing (strokes ``[xs, ys, ts]``): with ``partial_prob``
    the prefix drawn before a uniformly random time of the drawing (mid-stroke too: what a
    live update sees, each moment of the drawing equally likely), then random transforms.
    Returns the strokes and the fraction of the drawing's time the prefix covers (1.0 for
    the whole drawing)."""
    fraction = 1.0
    if drawing and rng.random() < cfg.partial_prob:
        end = max(float(np.max(s[2])) for s in drawing)
        cut = rng.uniform(0.0, end)
        fraction = cut / end if end > 0 else 1.0
        drawing = prefix_before(drawing, cut + 1e-6)
    strokes = normalize_arrays(drawing)
    n = len(strokes)
    if n == 0:
        return strokes, fraction
    if n >= 3 and rng.random() < cfg.drop_stroke_prob:
        drop = int(rng.integers(1, n))
        strokes = strokes[:drop] + strokes[drop + 1 :]
    theta = math.radians(rng.uniform(-cfg.rotate_deg, cfg.rotate_deg))
    a = math.exp(rng.uniform(-cfg.aspect, cfg.aspect))
    sh = rng.uniform(-cfg.shear, cfg.shear)
    c, s = math.cos(theta), math.sin(theta)
    m = np.array([[c, -s], [s, c]]) @ np.array([[a, sh], [0.0, 1.0 / a]])
    if rng.random() < cfg.flip_prob:
        m = m @ np.array([[-1.0, 0.0], [0.0, 1.0]])
    out = []
    for st in strokes:
        p = (st - 127.5) @ m.T
        p = p + rng.normal(0.0, cfg.stroke_shift, size=2)
        p = p + rng.normal(0.0, cfg.point_jitter, size=p.shape)
        out.append(p)
    return out, fraction


def render_augmented(
    drawing: list[Any], seed: int, variants: int, cfg: StrokeAug
) -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.float32]]:
    """``variants`` augmented renders of one timed drawing, (variants, 784) uint8, and the
    fraction of the drawing's time each covers (:func:`augment_strokes`)."""
    rng = np.random.default_rng(seed)
    variants_ = [augment_strokes(drawing, rng, cfg) for _ in range(variants)]
    drawings = [[s.T for s in strokes] for strokes, _ in variants_]
    fractions = np.array([f for _, f in variants_], dtype=np.float32)
    return drawings_to_images(drawings).reshape(variants, 784), fractions


@dataclass(frozen=True)
class ImageAug:
    rotate_deg: float = 10.0
    scale: float = 0.1  # uniform zoom in [1 - s, 1 + s]
    aspect: float = 0.15
    translate: float = 1.0  # pixels
    flip_prob: float = 0.5
    stretchify_prob: float = 0.0  # mimic the stretched renders: fill the square, thicker


def _ink_boxes(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per image (B, 28, 28): left, top edges and widths, heights of the inked box (pixels)."""
    ink = x > 0.05
    cols = ink.any(dim=1)
    rows = ink.any(dim=2)
    idx = torch.arange(28, dtype=torch.float32)
    big = torch.full_like(idx, 1e9)
    x0 = torch.where(cols, idx, big).min(dim=1).values
    x1 = torch.where(cols, idx, -big).max(dim=1).values
    y0 = torch.where(rows, idx, big).min(dim=1).values
    y1 = torch.where(rows, idx, -big).max(dim=1).values
    empty = ~cols.any(dim=1)
    x0 = torch.where(empty, torch.zeros_like(x0), x0)
    y0 = torch.where(empty, torch.zeros_like(y0), y0)
    w = torch.where(empty, torch.full_like(x0, 28.0), x1 - x0 + 1)
    h = torch.where(empty, torch.full_like(y0, 28.0), y1 - y0 + 1)
    return x0, y0, w, h


def augment_images(x: torch.Tensor, gen: torch.Generator, cfg: ImageAug) -> torch.Tensor:
    """Random affine warp of a batch (B, 784) of images in [0, 1]; returns (B, 784)."""
    b = x.shape[0]
    if b == 0:
        return x
    img = x.view(b, 28, 28)

    def u(lo: float, hi: float) -> torch.Tensor:
        return lo + (hi - lo) * torch.rand(b, generator=gen)

    theta = torch.deg2rad(u(-cfg.rotate_deg, cfg.rotate_deg))
    zoom = u(1 - cfg.scale, 1 + cfg.scale)
    asp = torch.exp(u(-cfg.aspect, cfg.aspect))
    sx, sy = zoom * asp, zoom / asp
    flip = torch.where(torch.rand(b, generator=gen) < cfg.flip_prob, -1.0, 1.0)
    c, s = torch.cos(theta), torch.sin(theta)
    # output -> input map in normalized coordinates: inverse of (scale then rotate)
    a11, a12 = c / sx * flip, s / sx * flip
    a21, a22 = -s / sy, c / sy
    tx = u(-cfg.translate, cfg.translate) / 14.0
    ty = u(-cfg.translate, cfg.translate) / 14.0
    mat = torch.stack(
        [torch.stack([a11, a12, tx], dim=1), torch.stack([a21, a22, ty], dim=1)], dim=1
    )
    stretch = None
    if cfg.stretchify_prob > 0:
        stretch = torch.rand(b, generator=gen) < cfg.stretchify_prob
        if stretch.any():
            # map the 24x24 centred square onto the ink box (x_in = k * x_out + c)
            x0, y0, w, h = _ink_boxes(img)
            kx, ky = w / 24.0, h / 24.0
            cx = (x0 + w / 2 - 14) / 14.0
            cy = (y0 + h / 2 - 14) / 14.0
            fill = torch.zeros(b, 2, 3)
            fill[:, 0, 0], fill[:, 0, 2] = kx, cx
            fill[:, 1, 1], fill[:, 1, 2] = ky, cy
            # compose: first the random warp (output side), then the fill map
            full = torch.cat([mat, torch.tensor([0.0, 0.0, 1.0]).expand(b, 1, 3)], dim=1)
            composed = fill @ full
            mat = torch.where(stretch[:, None, None], composed, mat)
    grid = F.affine_grid(mat, [b, 1, 28, 28], align_corners=False)
    out = F.grid_sample(
        img[:, None], grid, mode="bilinear", padding_mode="zeros", align_corners=False
    )
    if stretch is not None and stretch.any():
        thick = F.max_pool2d(out, 3, stride=1, padding=1)
        out = torch.where(stretch[:, None, None, None], 0.5 * out + 0.5 * thick, out)
    return out.reshape(b, 784)
