"""The MLP's forward pass for a few drawings at a time, skipping the zero inputs.

A matrix product of a small batch costs about as much as one of a large batch: the network's
weights (9.5 MB of float32 for the shipped 784-1536-768-87) stream from memory once per call
either way, so one drawing costs ~400 us alone and ~60 us in a batch of 128
(``python -m bench.micro --only infer``). Most inputs are zero, though: 70-75 % of a drawing's
pixels and of each hidden layer's activations after ReLU. :func:`forward` adds up, per drawing,
only the weight rows of its non-zero inputs, so it reads about a quarter of the weights: ~110-135
us per drawing whatever the batch, faster than the matrix product below ~12 drawings
(docs/BENCHMARKS.md, "The MLP for a few drawings"). The classifier uses it there
(:attr:`model.Classifier.sparse_below`) when numba is installed.

The sums are the matrix product's, in another order: the logits differ from it by float32
rounding (a few 1e-6), as the matrix product's own differ with the batch size (OpenBLAS takes
other kernels below 16 rows). Each drawing's result here depends on that drawing alone.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from model.incremental import HAVE_NUMBA  # numba is optional (extra "fast"): one check of it

__all__ = ["HAVE_NUMBA", "forward"]

Layer = tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]


def _layer_kernel(x: Any, w: Any, b: Any, relu: bool, out: Any) -> None:
    """``out[i] = sum over p of f(x[i, p]) * w[p] + b`` in float32, p ascending, terms with
    ``f(x[i, p]) == 0`` skipped; ``f`` is ReLU when ``relu`` (a hidden layer's input), else the
    identity."""
    n, inputs = x.shape
    width = w.shape[1]
    for i in range(n):
        o = out[i]
        xi = x[i]
        for j in range(width):
            o[j] = 0
        for p in range(inputs):
            v = xi[p]
            if (v > 0) if relu else (v != 0):
                row = w[p]
                for j in range(width):
                    o[j] += v * row[j]
        for j in range(width):
            o[j] += b[j]


@functools.cache
def _kernel() -> Any:
    """:func:`_layer_kernel` compiled by numba (no fastmath), from numba's cache when there."""
    import numba

    return numba.njit(cache=True, nogil=True)(_layer_kernel)


def forward(layers: Sequence[Layer], images: npt.NDArray[Any]) -> npt.NDArray[np.float32]:
    """Logits (N, classes) of ``images`` (N, inputs): the layers ``(w (inputs, width), b)``
    with ReLU between them, as ``h @ w + b``. Needs numba (:data:`HAVE_NUMBA`)."""
    kernel = _kernel()
    h = np.ascontiguousarray(images, dtype=np.float32)
    for k, (w, b) in enumerate(layers):
        out = np.empty((h.shape[0], w.shape[1]), dtype=np.float32)
        kernel(h, w, b, k > 0, out)
        h = out
    return h
