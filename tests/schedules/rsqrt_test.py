"""Tests for lbkeras.schedules.rsqrt against a NumPy implementation of the formula."""

from __future__ import annotations

import numpy as np
import pytest

from lbkeras.schedules import InverseSqrtDecay, Warmup
from tests.schedules.common import STEP_TYPES, assert_close, assert_round_trips, evaluate


@pytest.mark.parametrize("step_type", STEP_TYPES)
@pytest.mark.parametrize("timescale", [1, 7.5, 10_000])
def test_matches_numpy(timescale, step_type):
    schedule = InverseSqrtDecay(0.5, timescale=timescale)
    steps = [*range(20), 1000, 123_456]
    expected = [0.5 / np.sqrt(1 + s / timescale) for s in steps]
    assert_close(evaluate(schedule, steps, step_type), expected)


def test_big_vision_warmup_rsqrt():
    """big_vision: lr * min(1, t / w) before warmup ends, lr / sqrt((t + ts - w) / ts) after."""
    lr, warmup, timescale = 1e-3, 5, 20
    schedule = Warmup(InverseSqrtDecay(lr, timescale), warmup)
    steps = range(40)
    expected = [
        lr * s / warmup if s <= warmup else lr / np.sqrt((s + timescale - warmup) / timescale)
        for s in steps
    ]
    assert_close(evaluate(schedule, steps), expected)


def test_round_trips():
    assert_round_trips(InverseSqrtDecay(0.1, timescale=3), range(10))


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"timescale": 0}, ValueError),
        ({"timescale": -10}, ValueError),
        ({"initial_learning_rate": -1e-3}, ValueError),
        ({"timescale": "10000"}, TypeError),
    ],
)
def test_bad_arguments(kwargs, error):
    with pytest.raises(error):
        InverseSqrtDecay(**{"initial_learning_rate": 1e-3, **kwargs})
