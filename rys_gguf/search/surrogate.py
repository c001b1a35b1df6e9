"""The model an adaptive search fits to measured configs: a Gaussian process over (i, j).

Inputs are the block's start depth i/N and its size (j-i)/N, both linear, so a long block is as
easy to model as a short one; whether size acts on a log scale instead (log(j-i)/log N: one layer or
two differs more than 20 or 21, a ridge of "small blocks anywhere") is a hyperparameter, chosen like
the others. The prior is a smooth squared-exponential surface plus a quadratic trend in both inputs
(a Bayesian response surface, so a handful of points already says "large blocks are worse") plus
independent noise: a 16-item probe is a noisy measurement of its own cell. Length scales, the noise
share and the size scale are chosen by marginal likelihood over a small fixed grid, on at most
``MAX_TUNE_POINTS`` of the measurements (evenly spread over the order they were measured in: the
choice costs the same at 600 points as at 160), so a fit is a pure function of the measured values.

The posterior mean at a measured cell is its denoised estimate: the measurement shrunk towards what
its neighbours say. The leave-one-out predictions (closed form for a Gaussian process) give the
held-out rank correlation a search checks before it trusts the model. numpy only, imported lazily.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    Array = npt.NDArray[np.float64]

Cell = tuple[int, int]
Params = tuple[float, float, float, bool]  # start scale, size scale, noise share, size on a log scale
# Hyper-parameter grid: length scales in depth fractions (at least one layer), noise share of the
# measured variance. Small on purpose: a fit must stay cheap enough to redo every round.
START_SCALES = (0.12, 0.25, 0.5)
SIZE_SCALES = (0.06, 0.12, 0.25, 0.5)
NOISE_SHARES = (0.15, 0.35, 0.6)
LOG_SIZE = (False, True)
TREND_VARIANCE = 0.5  # prior variance of each trend coefficient (values are standardised)
MIN_POINTS_TO_TUNE = 8  # below this the marginal likelihood says little: use the middle of the grid
MAX_TUNE_POINTS = 160
DEFAULT: Params = (0.25, 0.12, 0.35, False)


def features(cells: Sequence[Cell], n_layers: int, log_size: bool = False) -> Array:
    """(start depth i/N, size (j-i)/N, or log(j-i)/log N with ``log_size``) of each cell."""
    import numpy as np

    x = np.asarray(cells, dtype=float).reshape(-1, 2)
    size = x[:, 1] - x[:, 0]
    size = np.log(size) / math.log(max(n_layers, 2)) if log_size else size / n_layers
    return np.stack([x[:, 0] / n_layers, size], axis=1)


def _trend(x: Array) -> Array:
    import numpy as np

    a, b = x[:, 0], x[:, 1]
    return np.stack([np.ones_like(a), a, b, a * a, b * b, a * b], axis=1)


def _kernel(x1: Array, x2: Array, scales: tuple[float, float], signal: float) -> Array:
    import numpy as np

    scale = np.asarray(scales)
    smooth = signal * np.exp(-0.5 * squared_distances(x1 / scale, x2 / scale))
    return smooth + TREND_VARIANCE * _trend(x1) @ _trend(x2).T


def squared_distances(x1: Array, x2: Array) -> Array:
    """Every squared Euclidean distance between the rows of ``x1`` and ``x2`` (as |a|² + |b|² - 2a·b:
    one matrix product instead of an array per coordinate)."""
    import numpy as np

    d: Array = (x1 * x1).sum(axis=1)[:, None] + (x2 * x2).sum(axis=1)[None, :] - 2.0 * x1 @ x2.T
    return np.maximum(d, 0.0, out=d)


def _log_likelihoods(x: dict[bool, Array], y: Array, grid: Sequence[Params]) -> Array:
    """The log marginal likelihood (less its constant) of ``y`` at ``x`` for every parameter set of
    ``grid``: one batched Cholesky per size scale. Each covariance is bordered by ``y`` and a constant
    c above yᵀK⁻¹y, so the factor's last diagonal entry is sqrt(c - yᵀK⁻¹y): no solve needed."""
    import numpy as np

    out = np.empty(len(grid))
    n = len(y)
    for log_size in (False, True):
        idx = [k for k, p in enumerate(grid) if p[3] == log_size]
        if not idx:
            continue
        xs = x[log_size]
        a = np.asarray([grid[k][0] for k in idx])[:, None, None]
        b = np.asarray([grid[k][1] for k in idx])[:, None, None]
        noise = np.asarray([grid[k][2] for k in idx])
        c = float(y @ y) / float(noise.min()) + 1.0  # K >= noise I, so yᵀK⁻¹y < c
        d0 = (xs[:, None, 0] - xs[None, :, 0]) ** 2
        d1 = (xs[:, None, 1] - xs[None, :, 1]) ** 2
        k = np.empty((len(idx), n + 1, n + 1))
        k[:, :n, :n] = (1.0 - noise[:, None, None]) * np.exp(-0.5 * (d0 / a**2 + d1 / b**2))
        k[:, :n, :n] += TREND_VARIANCE * _trend(xs) @ _trend(xs).T
        k[:, range(n), range(n)] += noise[:, None] + 1e-9
        k[:, :n, n] = k[:, n, :n] = y
        k[:, n, n] = c
        diag = np.diagonal(np.linalg.cholesky(k), axis1=1, axis2=2)
        fit = c - diag[:, n] ** 2
        out[idx] = -0.5 * fit - np.log(diag[:, :n]).sum(axis=1)
    return out


class Surrogate:
    """A fitted Gaussian process: predictions with uncertainty, denoised values, held-out check."""

    def __init__(self, cells: Sequence[Cell], values: Sequence[float], n_layers: int) -> None:
        import numpy as np

        if not cells:
            raise ValueError("a surrogate needs at least one measured config")
        self.n_layers = n_layers
        self.cells = tuple(cells)
        y = np.asarray(values, dtype=float)
        self.offset = float(y.mean())
        self.scale = float(y.std()) if len(y) > 1 and y.std() > 1e-12 else 1.0
        self._y = (y - self.offset) / self.scale
        floor = 1.0 / n_layers  # no length scale below one layer
        self.params = (max(DEFAULT[0], floor), max(DEFAULT[1], floor), DEFAULT[2], DEFAULT[3])
        if len(y) >= MIN_POINTS_TO_TUNE:
            grid = [
                (max(a, floor), max(b, floor), r, log)
                for a in START_SCALES for b in SIZE_SCALES for r in NOISE_SHARES for log in LOG_SIZE
            ]  # fmt: skip
            pick = np.unique(np.linspace(0, len(y) - 1, min(len(y), MAX_TUNE_POINTS)).round().astype(int))
            sub = [self.cells[k] for k in pick]
            x = {log: features(sub, n_layers, log) for log in LOG_SIZE}
            logml = _log_likelihoods(x, self._y[pick], grid)
            self.params = grid[int(np.argmax(logml))]
        self._x = features(cells, n_layers, self.params[3])
        self._k_inv = self._inverse()
        self._alpha = self._k_inv @ self._y

    def _inverse(self) -> Array:
        import numpy as np

        a, b, noise, _ = self.params
        k = _kernel(self._x, self._x, (a, b), 1.0 - noise) + (noise + 1e-9) * np.eye(len(self._y))
        chol_inv = np.linalg.inv(np.linalg.cholesky(k))
        k_inv: Array = chol_inv.T @ chol_inv
        return k_inv

    @property
    def noise_sd(self) -> float:
        """The measurement noise the fit found, in the values' units."""
        return math.sqrt(self.params[2]) * self.scale

    def predict(self, cells: Sequence[Cell]) -> tuple[Array, Array]:
        """Posterior mean and standard deviation of the noise-free value at ``cells``."""
        import numpy as np

        x = features(cells, self.n_layers, self.params[3])
        a, b, noise, _ = self.params
        cross = _kernel(x, self._x, (a, b), 1.0 - noise)
        mean = cross @ self._alpha
        prior = (1.0 - noise) + TREND_VARIANCE * (_trend(x) ** 2).sum(axis=1)
        var = prior - ((cross @ self._k_inv) * cross).sum(axis=1)
        sd = np.sqrt(np.maximum(var, 1e-12))
        return mean * self.scale + self.offset, sd * self.scale

    def held_out_rank_correlation(self) -> float:
        """Spearman correlation of leave-one-out predictions with the measurements (nan below 4)."""
        import numpy as np

        if len(self._y) < 4:
            return math.nan
        loo = self._y - self._alpha / np.diag(self._k_inv)
        return spearman(loo, self._y)


def spearman(a: Array, b: Array) -> float:
    """Spearman's rank correlation (average ranks for ties); nan when either side is constant."""
    import numpy as np

    ra, rb = _ranks(a), _ranks(b)
    if ra.std() < 1e-12 or rb.std() < 1e-12:
        return math.nan
    return float(np.corrcoef(ra, rb)[0, 1])


def _ranks(x: Array) -> Array:
    import numpy as np

    order = np.argsort(x, kind="stable")
    ranks = np.empty(len(x))
    ranks[order] = np.arange(len(x), dtype=float)
    values = np.asarray(x)[order]
    start = 0
    for k in range(1, len(x) + 1):  # average the ranks of tied runs
        if k == len(x) or values[k] != values[start]:
            ranks[order[start:k]] = (start + k - 1) / 2
            start = k
    return ranks
