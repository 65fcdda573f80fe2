"""Steps to a target against batch size: the model ``S = S_min (1 + B_crit / B)`` and its fit.

McCandlish et al. (2018) derive that the optimizer steps ``S`` and examples ``E``
needed to reach a given loss trade off as ``(S / S_min - 1)(E / E_min - 1) = 1``; with
``E = B S`` this is ``S = S_min (1 + B_crit / B)``, ``B_crit = E_min / S_min``: below
``B_crit`` doubling the batch nearly halves the steps (perfect scaling), above it the
steps approach ``S_min`` (maximal data parallelism). Shallue et al. (2018) measure the
same curve as steps-to-target of the best tuned trial per batch size.

The fit minimises the squared error of ``log S`` (each batch size counts alike, as on a
log-log plot): for a fixed ``B_crit`` the best ``log S_min`` is the mean residual in
closed form, and ``log B_crit`` is found by a grid over the measured range and a
golden-section refinement. NumPy only; scipy would add a dependency for one 1-D search.

References:
    McCandlish, Kaplan, Amodei et al., "An Empirical Model of Large-Batch Training",
    2018 (https://arxiv.org/abs/1812.06162).
    Shallue, Lee, Antognini et al., "Measuring the Effects of Data Parallelism on Neural
    Network Training", JMLR 2019 (https://arxiv.org/abs/1811.03600).

Example:
    >>> batches = [64, 256, 1024, 4096]
    >>> steps = [steps_to_target(b, s_min=100.0, b_crit=500.0) for b in batches]
    >>> fit = fit_scaling(batches, steps)
    >>> round(fit.s_min, 3), round(fit.b_crit, 2)
    (100.0, 500.0)
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence

import numpy as np

_GOLDEN = (math.sqrt(5) - 1) / 2


@dataclasses.dataclass(frozen=True)
class ScalingFit:
    """A fitted ``S = S_min (1 + B_crit / B)``.

    Attributes:
        s_min: the fewest steps any batch needs (the large-batch limit).
        b_crit: the critical batch size: at ``B = B_crit`` twice ``S_min`` steps.
        rms_log_error: root-mean-square error of ``log S`` over the points.
    """

    s_min: float
    b_crit: float
    rms_log_error: float

    @property
    def e_min(self) -> float:
        """The fewest examples any batch needs (the small-batch limit): ``S_min B_crit``."""
        return self.s_min * self.b_crit

    def steps(self, batch_size: float | np.ndarray) -> float | np.ndarray:
        """The fitted steps to the target at ``batch_size``."""
        return steps_to_target(batch_size, self.s_min, self.b_crit)


def steps_to_target(
    batch_size: float | np.ndarray, s_min: float, b_crit: float
) -> float | np.ndarray:
    """``S_min (1 + B_crit / B)``: the model's steps to the target at ``batch_size``."""
    return s_min * (1.0 + b_crit / np.asarray(batch_size, dtype=np.float64))


def fit_scaling(batch_sizes: Sequence[float], steps: Sequence[float]) -> ScalingFit:
    """Least-squares fit (in log steps) of ``S = S_min (1 + B_crit / B)``.

    ``B_crit`` is searched from 1/100 of the smallest to 100 times the largest batch:
    a ``B_crit`` outside the measured range is poorly determined (all points perfectly
    scaling, or all at ``S_min``), and then lies at an end of that interval.

    Args:
        batch_sizes: batch sizes, two or more distinct.
        steps: steps to the target at each batch size (positive).

    Raises:
        ValueError: fewer than two distinct batch sizes, or a non-positive value.
    """
    b = np.asarray(batch_sizes, dtype=np.float64)
    s = np.asarray(steps, dtype=np.float64)
    if b.shape != s.shape or len(np.unique(b)) < 2:
        raise ValueError("fitting S_min and B_crit needs steps at two or more batch sizes")
    if np.any(b <= 0) or np.any(s <= 0) or not np.all(np.isfinite(s)):
        raise ValueError(f"batch sizes and steps must be positive, got {b.tolist()}, {s.tolist()}")
    log_s = np.log(s)

    def error(log_b_crit: float) -> float:
        return _squared_error(log_b_crit, b, log_s)

    low, high = math.log(b.min() / 100), math.log(b.max() * 100)
    grid = np.linspace(low, high, 401)
    best = int(np.argmin([error(x) for x in grid]))
    log_b_crit = _golden_section(error, grid[max(best - 1, 0)], grid[min(best + 1, len(grid) - 1)])
    b_crit = math.exp(log_b_crit)
    s_min = math.exp(np.mean(log_s - np.log1p(b_crit / b)))
    return ScalingFit(s_min, b_crit, math.sqrt(error(log_b_crit) / len(b)))


def _squared_error(log_b_crit: float, b: np.ndarray, log_s: np.ndarray) -> float:
    """Sum of squared log residuals at the best ``S_min`` for this ``B_crit``."""
    shape = np.log1p(math.exp(log_b_crit) / b)
    residual = log_s - shape
    residual -= residual.mean()  # the closed-form best log S_min
    return float(residual @ residual)


def _golden_section(f, low: float, high: float, tolerance: float = 1e-10) -> float:
    """The minimum of a unimodal ``f`` on ``[low, high]``."""
    x1, x2 = high - _GOLDEN * (high - low), low + _GOLDEN * (high - low)
    f1, f2 = f(x1), f(x2)
    while high - low > tolerance:
        if f1 <= f2:
            high, x2, f2 = x2, x1, f1
            x1 = high - _GOLDEN * (high - low)
            f1 = f(x1)
        else:
            low, x1, f1 = x1, x2, f2
            x2 = low + _GOLDEN * (high - low)
            f2 = f(x2)
    return (low + high) / 2
