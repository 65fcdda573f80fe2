"""Tests for lbkeras.schedules.cosine against a NumPy implementation of the formula."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from lbkeras.schedules import CosineDecayWithHold
from tests.schedules.common import STEP_TYPES, assert_close, assert_round_trips, evaluate


def np_cosine(step, initial, decay_steps, end, hold):
    """Hold ``initial`` for ``hold`` steps, then end + (initial - end) * (1 + cos(pi t / T)) / 2."""
    t = min(max(step - hold, 0), decay_steps)
    return end + (initial - end) * 0.5 * (1 + np.cos(np.pi * t / decay_steps))


@pytest.mark.parametrize("step_type", STEP_TYPES)
@pytest.mark.parametrize(("end", "hold"), [(0.0, 0), (0.01, 0), (0.0, 6), (0.05, 3)])
def test_matches_numpy(end, hold, step_type):
    schedule = CosineDecayWithHold(0.8, decay_steps=16, end_learning_rate=end, hold_steps=hold)
    steps = range(hold + 20)
    expected = [np_cosine(s, 0.8, 16, end, hold) for s in steps]
    assert_close(evaluate(schedule, steps, step_type), expected)


def test_hold_then_end():
    schedule = CosineDecayWithHold(2.0, decay_steps=10, end_learning_rate=0.5, hold_steps=4)
    assert_close(evaluate(schedule, [0, 4, 9, 14, 100]), [2.0, 2.0, 1.25, 0.5, 0.5])


def test_without_hold_equals_keras_cosine_decay():
    ours = CosineDecayWithHold(1.0, decay_steps=12, end_learning_rate=0.1)
    keras_cosine = keras.optimizers.schedules.CosineDecay(1.0, decay_steps=12, alpha=0.1)
    assert_close(evaluate(ours, range(15)), evaluate(keras_cosine, range(15)))


def test_round_trips():
    assert_round_trips(CosineDecayWithHold(0.3, 7, end_learning_rate=0.01, hold_steps=2), range(12))


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"decay_steps": 0}, ValueError),
        ({"decay_steps": -5}, ValueError),
        ({"hold_steps": -1}, ValueError),
        ({"end_learning_rate": -0.1}, ValueError),
        ({"initial_learning_rate": float("inf")}, ValueError),
        ({"decay_steps": 10.0}, TypeError),
    ],
)
def test_bad_arguments(kwargs, error):
    with pytest.raises(error):
        CosineDecayWithHold(**{"initial_learning_rate": 0.1, "decay_steps": 10, **kwargs})
