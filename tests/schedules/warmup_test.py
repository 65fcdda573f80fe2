"""Tests for lbkeras.schedules.warmup against NumPy implementations of the formulas."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from lbkeras.schedules import CosineDecayWithHold, StepDecay, Warmup
from tests.schedules.common import STEP_TYPES, assert_close, assert_round_trips, evaluate

PolynomialDecay = keras.optimizers.schedules.PolynomialDecay


def np_warmup(step, after, warmup_steps, initial=0.0, kind="linear", power=1.0, shift=True):
    """The documented Warmup formula, with ``after`` a NumPy function of the step."""
    if warmup_steps == 0:
        return after(step)
    if step >= warmup_steps:
        return after(step - warmup_steps if shift else step)
    peak = after(0 if shift else warmup_steps)
    fraction = step / warmup_steps
    if kind == "constant":
        return initial
    if kind == "polynomial":
        fraction = fraction**power
    return initial + (peak - initial) * fraction


def np_poly(lr0, decay_steps, power, end=0.0):
    """Keras's PolynomialDecay (no cycle): (lr0 - end) * (1 - min(t, T) / T) ** power + end."""
    return lambda t: (lr0 - end) * (1 - min(t, decay_steps) / decay_steps) ** power + end


def np_step_decay(lr0, boundaries, rate=0.1):
    return lambda t: lr0 * rate ** sum(t >= b for b in boundaries)


@pytest.mark.parametrize("step_type", STEP_TYPES)
def test_linear_warmup_to_a_constant(step_type):
    schedule = Warmup(3.2, warmup_steps=10, initial_learning_rate=0.1)
    steps = range(25)
    expected = [0.1 + (3.2 - 0.1) * s / 10 if s < 10 else 3.2 for s in steps]
    assert_close(evaluate(schedule, steps, step_type), expected)


@pytest.mark.parametrize("shift", [True, False])
@pytest.mark.parametrize(
    ("kind", "power"),
    [("linear", 1.0), ("constant", 1.0), ("polynomial", 2.0), ("polynomial", 0.5)],
)
def test_kinds_and_shift_match_numpy(kind, power, shift):
    after = PolynomialDecay(2.0, decay_steps=20, end_learning_rate=0.1, power=2.0)
    schedule = Warmup(after, 8, initial_learning_rate=0.5, kind=kind, power=power, shift=shift)
    steps = range(32)  # warmup ends at 8, the shifted decay at 28
    ref = np_poly(2.0, 20, 2.0, end=0.1)
    expected = [np_warmup(s, ref, 8, 0.5, kind, power, shift) for s in steps]
    assert_close(evaluate(schedule, steps), expected)


@pytest.mark.parametrize("shift", [True, False])
def test_warmup_end_and_peak(shift):
    after = PolynomialDecay(1.0, decay_steps=10, end_learning_rate=0.0, power=1.0)
    schedule = Warmup(after, warmup_steps=4, shift=shift)
    peak = 1.0 if shift else 0.6  # after(0) when shifted, after(warmup_steps) when not
    values = evaluate(schedule, [2, 3, 4, 5])
    assert_close(values, [peak * 2 / 4, peak * 3 / 4, peak, 0.9 if shift else 0.5])


def test_constant_warmup_jumps_to_peak():
    schedule = Warmup(PolynomialDecay(1.0, 10, 0.0), 5, initial_learning_rate=0.01, kind="constant")
    assert_close(evaluate(schedule, [0, 4, 5]), [0.01, 0.01, 1.0])


@pytest.mark.parametrize("shift", [True, False])
def test_no_warmup_is_the_wrapped_schedule(shift):
    after = StepDecay(1.0, [3, 6])
    schedule = Warmup(after, warmup_steps=0, initial_learning_rate=0.5, shift=shift)
    np.testing.assert_array_equal(evaluate(schedule, range(10)), evaluate(after, range(10)))


@pytest.mark.parametrize("step_type", STEP_TYPES)
def test_lars_polynomial_schedule(step_type):
    """You et al.: linear warmup to lr0, then lr0 * (1 - t / T) ** 2 with t counted after warmup."""
    lr0, warmup, total = 8.0, 5, 30
    schedule = Warmup(PolynomialDecay(lr0, total, end_learning_rate=0.0, power=2.0), warmup)
    steps = range(warmup + total + 5)
    expected = [
        lr0 * s / warmup if s < warmup else lr0 * (1 - min(s - warmup, total) / total) ** 2
        for s in steps
    ]
    assert_close(evaluate(schedule, steps, step_type), expected)
    assert_close(evaluate(schedule, [warmup, warmup + total]), [lr0, 0.0])


@pytest.mark.parametrize("step_type", STEP_TYPES)
def test_goyal_schedule(step_type):
    """Goyal et al.: 0.1 -> 3.2 over 5 epochs, then /10 at epochs 30, 60, 80 (global epochs)."""
    spe = 3
    boundaries = [30 * spe, 60 * spe, 80 * spe]
    schedule = Warmup(StepDecay(3.2, boundaries), 5 * spe, initial_learning_rate=0.1, shift=False)
    steps = sorted(set(range(20)) | {b + d for b in boundaries for d in (-1, 0, 1)} | {270, 400})
    ref = np_step_decay(3.2, boundaries)
    expected = [0.1 + (3.2 - 0.1) * s / 15 if s < 15 else ref(s) for s in steps]
    assert_close(evaluate(schedule, steps, step_type), expected)


def test_wraps_keras_cosine_and_piecewise():
    cosine = keras.optimizers.schedules.CosineDecay(1.0, decay_steps=10, alpha=0.1)
    steps = range(20)
    expected = [
        s / 5 if s < 5 else 0.1 + 0.9 * 0.5 * (1 + np.cos(np.pi * min(s - 5, 10) / 10))
        for s in steps
    ]
    assert_close(evaluate(Warmup(cosine, 5), steps), expected)

    piecewise = keras.optimizers.schedules.PiecewiseConstantDecay([6, 9], [1.0, 0.5, 0.25])
    expected = [s / 4 if s < 4 else 1.0 if s <= 6 else 0.5 if s <= 9 else 0.25 for s in steps]
    assert_close(evaluate(Warmup(piecewise, 4, shift=False), steps), expected)


def test_inside_a_keras_optimizer():
    schedule = Warmup(PolynomialDecay(1.0, 10, 0.0, power=2.0), 4)
    optimizer = keras.optimizers.SGD(schedule)
    optimizer.build([keras.Variable(np.zeros(2, "float32"))])
    optimizer.iterations.assign(6)
    assert_close(float(keras.ops.convert_to_numpy(optimizer.learning_rate)), 0.8**2)


@pytest.mark.parametrize(
    "schedule",
    [
        Warmup(0.5, 5, initial_learning_rate=0.01),
        Warmup(PolynomialDecay(1.0, 10, 0.0, power=2.0), 3, kind="polynomial", power=3.0),
        Warmup(StepDecay(1.0, [4, 8]), 3, kind="constant", shift=False),
        Warmup(Warmup(CosineDecayWithHold(1.0, 6, hold_steps=2), 2), 2, 0.1),
    ],
)
def test_round_trips(schedule):
    assert_round_trips(schedule, range(16))


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"warmup_steps": -1}, ValueError),
        ({"kind": "cosine"}, ValueError),
        ({"initial_learning_rate": -0.1}, ValueError),
        ({"kind": "polynomial", "power": 0.0}, ValueError),
        ({"kind": "linear", "power": 2.0}, ValueError),
        ({"after": -1.0}, ValueError),
        ({"after": "cosine"}, TypeError),
        ({"warmup_steps": 2.5}, TypeError),
        ({"shift": "no"}, TypeError),
    ],
)
def test_bad_arguments(kwargs, error):
    arguments = {"after": 1.0, "warmup_steps": 5, **kwargs}
    with pytest.raises(error):
        Warmup(**arguments)
