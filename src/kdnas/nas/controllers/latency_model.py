"""A latency model fitted to the candidates measured so far, so a controller can skip architectures that would
miss the budget before anyone distils them (as HAT's latency predictor or ProxylessNAS's lookup table do).

A transformer encoder's latency at batch 1 is close to linear in a few per-layer counts: a fixed cost, a cost
per layer and per head (kernel launches, reshapes), and the multiply-adds of the projections (``h * h``), the
FFN (``h * f``) and the attention over the sequence (``h``, times the sequence length, which is fixed within
one latency profile). :class:`LatencyModel` fits those six non-negative coefficients by least squares on the
*relative* error (a 10% miss matters as much on a 2 ms student as on a 20 ms one), with
:func:`scipy.optimize.nnls`. Non-negativity keeps the extrapolation monotone: a deeper or wider student is
never predicted faster.

With fewer than :data:`FULL_MODEL_MEASUREMENTS` measurements six coefficients are underdetermined (the first
episode's few students are all shallow, say), and the fit extrapolates in depth at random; until then the model
is a fixed cost plus one cost per multiply-add (:func:`prior_features`), which extrapolates as compute does.

Latencies are in any unit the caller keeps to (the search uses multiples of its latency target, so ``<= 1``
meets the budget with its margin).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy.optimize import nnls

from kdnas.models.arch import ArchSpec

#: measurements needed before the model predicts anything (fewer: :meth:`LatencyModel.predict` gives None)
MIN_MEASUREMENTS = 3
#: measurements from which the six per-layer coefficients are fitted (fewer: the two of :func:`prior_features`)
FULL_MODEL_MEASUREMENTS = 12


def features(archs: Sequence[ArchSpec]) -> np.ndarray:
    """``(N, 6)``: 1, layers, layers * heads, layers * h^2, layers * h * f, layers * h (h, f in thousands)."""
    rows = []
    for a in archs:
        layers, h, f = a.num_hidden_layers, a.hidden_size / 1000, a.intermediate_size / 1000
        rows.append([1.0, layers, layers * a.num_attention_heads, layers * h * h, layers * h * f, layers * h])
    return np.asarray(rows, dtype=float).reshape(len(rows), 6)


def prior_features(archs: Sequence[ArchSpec]) -> np.ndarray:
    """``(N, 2)``: 1 and the encoder's multiply-adds per token at 128 tokens, in millions."""
    rows = [[1.0, a.multiply_adds_per_token(128) / 1e6] for a in archs]
    return np.asarray(rows, dtype=float).reshape(len(rows), 2)


class LatencyModel:
    """Non-negative linear latency model of an architecture's per-layer counts (see the module docstring)."""

    def __init__(self) -> None:
        self.coef: np.ndarray | None = None
        self.n = 0
        self.features = prior_features

    def fit(self, archs: Sequence[ArchSpec], latencies: Sequence[float]) -> LatencyModel:
        """Fit to the measured ``latencies`` (positive, finite ones only; others are ignored)."""
        y = np.asarray(latencies, dtype=float)
        keep = np.isfinite(y) & (y > 0)
        self.n = int(keep.sum())
        if self.n < MIN_MEASUREMENTS:
            self.coef = None
            return self
        self.features = features if self.n >= FULL_MODEL_MEASUREMENTS else prior_features
        x = self.features([a for a, k in zip(archs, keep, strict=True) if k])
        y = y[keep]
        self.coef, _ = nnls(x / y[:, None], np.ones(self.n))  # minimise sum(((x @ c) - y) / y) ** 2, c >= 0
        return self

    @property
    def fitted(self) -> bool:
        return self.coef is not None

    def predict(self, archs: Sequence[ArchSpec]) -> np.ndarray | None:
        """Predicted latencies ``(N,)``, or None before :data:`MIN_MEASUREMENTS` measurements."""
        if self.coef is None:
            return None
        return self.features(archs) @ self.coef
