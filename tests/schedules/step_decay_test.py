"""Tests for lbkeras.schedules.step_decay against a NumPy implementation of the formula."""

from __future__ import annotations

import pytest

from lbkeras.schedules import StepDecay
from tests.schedules.common import STEP_TYPES, assert_close, assert_round_trips, evaluate


def np_step_decay(step, lr0, boundaries, rate):
    """lr0 * rate ** (number of boundaries <= step)."""
    return lr0 * rate ** sum(step >= b for b in boundaries)


@pytest.mark.parametrize("step_type", STEP_TYPES)
@pytest.mark.parametrize(
    ("boundaries", "rate"), [([5, 10, 15], 0.1), ([0, 7], 0.5), ([], 0.1), ([3], 2.0)]
)
def test_matches_numpy(boundaries, rate, step_type):
    schedule = StepDecay(1.6, boundaries, decay_rate=rate)
    steps = range(20)
    expected = [np_step_decay(s, 1.6, boundaries, rate) for s in steps]
    assert_close(evaluate(schedule, steps, step_type), expected)


def test_changes_at_each_boundary():
    schedule = StepDecay(3.2, [90, 180, 240])  # Goyal: epochs 30, 60, 80 at 3 steps per epoch
    values = evaluate(schedule, [0, 89, 90, 179, 180, 239, 240, 10_000])
    assert_close(values, [3.2, 3.2, 0.32, 0.32, 0.032, 0.032, 0.0032, 0.0032])


def test_compares_steps_as_integers():
    # float32 cannot tell 2**24 from 2**24 + 1; the schedule must.
    schedule = StepDecay(1.0, [2**24 + 1], decay_rate=0.5)
    for step_type in STEP_TYPES:
        assert_close(evaluate(schedule, [2**24, 2**24 + 1], step_type), [1.0, 0.5])


def test_round_trips():
    assert_round_trips(StepDecay(0.4, [2, 5, 9], decay_rate=0.2), range(12))


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"boundaries": [5, 5]}, ValueError),
        ({"boundaries": [6, 3]}, ValueError),
        ({"boundaries": [-1, 3]}, ValueError),
        ({"boundaries": [1.5]}, TypeError),
        ({"boundaries": 10}, TypeError),
        ({"initial_learning_rate": -1.0}, ValueError),
        ({"decay_rate": -0.1}, ValueError),
        ({"decay_rate": float("nan")}, ValueError),
    ],
)
def test_bad_arguments(kwargs, error):
    with pytest.raises(error):
        StepDecay(**{"initial_learning_rate": 0.1, "boundaries": [3], **kwargs})
