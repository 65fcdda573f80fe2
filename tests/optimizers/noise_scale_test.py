"""The noise-scale arithmetic against its definitions (McCandlish et al. 2018, appendix A.1).

Backend-independent: also run with KERAS_BACKEND=jax (tests/backend_jax_test.py).
"""

import math

import numpy as np
import pytest

from lbkeras.optimizers import noise_scale


def test_the_estimates_are_unbiased():
    """n small gradients of b examples each, from a known true gradient and per-example
    covariance: averaged over many steps, the estimates meet |G|^2 and tr(Sigma) / b."""
    rng = np.random.default_rng(0)
    n, b, dims, steps = 4, 8, 6, 20_000
    gradient = rng.normal(size=dims)
    stddev = rng.uniform(0.5, 3.0, size=dims)  # Sigma = diag(stddev^2)
    noise = rng.normal(size=(steps, n, b, dims)) * stddev
    small = gradient + noise.mean(axis=2)  # (steps, n, dims): each a mean of b examples
    local = (small**2).sum(-1).mean(-1)  # mean_i |g_i|^2
    total = (small.mean(axis=1) ** 2).sum(-1)  # |mean_i g_i|^2
    g2, trace_per_b = (np.asarray(v) for v in noise_scale.unbiased_estimates(local, total, n))
    for estimate, exact in ((g2, gradient @ gradient), (trace_per_b, (stddev**2).sum() / b)):
        error = estimate.std() / math.sqrt(steps)
        assert abs(estimate.mean() - exact) < 4 * error, (estimate.mean(), exact, error)


def test_b_simple_is_the_trace_over_the_squared_norm():
    assert noise_scale.b_simple(trace_per_b=3.0, g2=2.0, small_batch_size=16) == 16 * 3.0 / 2.0
    assert math.isnan(noise_scale.b_simple(3.0, 0.0, 16))  # |G|^2 <= 0: no estimate yet
    assert math.isnan(noise_scale.b_simple(3.0, -1.0, 16))


def test_the_moving_averages_are_debiased():
    """After k valid steps of the same values from 0, the EMA sums over their weight
    1 - decay^k give the values back; invalid steps leave the average as it was."""
    decay, average_g2, average_trace, weight = 0.9, 0.0, 0.0, 0.0
    for valid in (True, False, True, True):
        average_g2 = float(noise_scale.ema_update(average_g2, 2.0, decay, valid))
        average_trace = float(noise_scale.ema_update(average_trace, 0.5, decay, valid))
        weight = float(noise_scale.ema_update(weight, 1.0, decay, valid))
    assert weight == pytest.approx(1 - decay**3)
    debiased = noise_scale.debiased(average_g2, average_trace, weight, small_batch_size=32)
    assert debiased == pytest.approx(
        {"grad_norm_sq": 2.0, "trace_sigma": 0.5 * 32, "b_simple": 32 * 0.5 / 2.0}
    )
    before_any = noise_scale.debiased(0.0, 0.0, 0.0, small_batch_size=32)
    assert all(math.isnan(value) for value in before_any.values())


def test_squared_norms_skip_missing_gradients():
    grads = [np.array([3.0, 4.0]), None, np.array([[1.0, 2.0], [2.0, 0.0]])]
    assert [float(v) for v in noise_scale.squared_norms(grads)] == [25.0, 9.0]
