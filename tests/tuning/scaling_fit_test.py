"""The fit of S = S_min (1 + B_crit / B) recovers the parameters it was generated from."""

from __future__ import annotations

import numpy as np
import pytest

from lbkeras.tuning.scaling_fit import fit_scaling, steps_to_target

BATCHES = [64, 128, 256, 512, 1024, 2048, 4096, 8192]


@pytest.mark.parametrize(
    "s_min, b_crit", [(100.0, 500.0), (12.0, 64.0), (3000.0, 20_000.0), (40.0, 3000.0)]
)
def test_recovers_exact_parameters(s_min, b_crit):
    steps = [s_min * (1 + b_crit / b) for b in BATCHES]  # the formula, written out again
    fit = fit_scaling(BATCHES, steps)
    assert fit.s_min == pytest.approx(s_min, rel=1e-6)
    assert fit.b_crit == pytest.approx(b_crit, rel=1e-6)
    assert fit.rms_log_error < 1e-8
    assert fit.e_min == pytest.approx(s_min * b_crit, rel=1e-6)


def test_recovers_parameters_from_noisy_steps():
    rng = np.random.default_rng(0)
    truth = steps_to_target(np.array(BATCHES), 200.0, 1000.0)
    noisy = truth * np.exp(rng.normal(0, 0.05, size=len(BATCHES)))
    fit = fit_scaling(BATCHES, noisy)
    assert fit.s_min == pytest.approx(200.0, rel=0.15)
    assert fit.b_crit == pytest.approx(1000.0, rel=0.25)
    assert fit.rms_log_error == pytest.approx(
        np.sqrt(np.mean((np.log(noisy) - np.log(fit.steps(np.array(BATCHES)))) ** 2)), rel=1e-9
    )


def test_the_fit_minimises_the_log_error():
    rng = np.random.default_rng(1)
    steps = steps_to_target(np.array(BATCHES), 50.0, 700.0) * np.exp(rng.normal(0, 0.1, 8))
    fit = fit_scaling(BATCHES, steps)

    def error(s_min, b_crit):
        return np.sum((np.log(steps) - np.log(s_min * (1 + b_crit / np.array(BATCHES)))) ** 2)

    best = error(fit.s_min, fit.b_crit)
    for ds in (0.98, 1.02):
        for db in (0.98, 1.02):
            assert error(fit.s_min * ds, fit.b_crit * db) > best


def test_two_points_are_fitted_exactly():
    fit = fit_scaling([100, 400], [500, 200])
    assert fit.steps(100) == pytest.approx(500, rel=1e-6)
    assert fit.steps(400) == pytest.approx(200, rel=1e-6)


@pytest.mark.parametrize(
    "batches, steps, message",
    [
        ([64], [10], "two or more batch sizes"),
        ([64, 64], [10, 5], "two or more batch sizes"),
        ([64, 128], [10, 0], "must be positive"),
        ([64, 128], [10], "two or more batch sizes"),
    ],
)
def test_bad_input(batches, steps, message):
    with pytest.raises(ValueError, match=message):
        fit_scaling(batches, steps)
