"""Tests for the schedule registry in lbkeras.schedules."""

from __future__ import annotations

import keras
import pytest

from lbkeras import schedules
from lbkeras.registry import Registry
from tests.schedules.common import assert_close, evaluate

EXAMPLES = {
    "constant": {"learning_rate": 0.1},
    "step": {"initial_learning_rate": 0.1, "boundaries": [3, 6]},
    "polynomial": {"initial_learning_rate": 0.1, "decay_steps": 10, "power": 2.0},
    "linear": {"initial_learning_rate": 0.1, "decay_steps": 10},
    "cosine": {"initial_learning_rate": 0.1, "decay_steps": 10, "hold_steps": 2},
    "rsqrt": {"initial_learning_rate": 0.1, "timescale": 5},
    "exponential": {"initial_learning_rate": 0.1, "decay_steps": 10, "decay_rate": 0.5},
    "piecewise": {"boundaries": [3, 6], "values": [0.1, 0.01, 0.001]},
}


def test_names():
    assert isinstance(schedules.SCHEDULES, Registry)
    assert schedules.names() == sorted(EXAMPLES)


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_every_name_builds_a_float32_schedule(name):
    schedule = schedules.get(name, **EXAMPLES[name])
    assert isinstance(schedule, keras.optimizers.schedules.LearningRateSchedule)
    values = evaluate(schedule, [0, 5, 20])
    assert values[0] == pytest.approx(0.1)


def test_linear_and_polynomial_decay_to_zero_by_default():
    linear = schedules.get("linear", initial_learning_rate=1.0, decay_steps=4)
    assert_close(evaluate(linear, range(7)), [1.0, 0.75, 0.5, 0.25, 0.0, 0.0, 0.0])
    lars = schedules.get("polynomial", initial_learning_rate=2.0, decay_steps=4, power=2.0)
    assert_close(evaluate(lars, range(6)), [2.0 * (1 - min(t, 4) / 4) ** 2 for t in range(6)])
    with pytest.raises(TypeError):
        schedules.get("linear", initial_learning_rate=1.0, decay_steps=4, power=2.0)


def test_names_are_case_insensitive():
    assert isinstance(
        schedules.get("Cosine", initial_learning_rate=1.0, decay_steps=3),
        schedules.CosineDecayWithHold,
    )


def test_unknown_name_lists_the_choices():
    with pytest.raises(ValueError, match="unknown schedule 'cosine_restarts'") as info:
        schedules.get("cosine_restarts")
    for name in EXAMPLES:
        assert name in str(info.value)
