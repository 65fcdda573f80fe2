"""Tests for the batch-size schedule registry in lbkeras.schedules.batch_size."""

from __future__ import annotations

import pytest

from lbkeras import schedules
from lbkeras.schedules import batch_size

EXAMPLES = {
    "constant": ({"batch_size": 256}, batch_size.ConstantBatchSize),
    "steps": ({"changes": [(0, 64), (1000, 128)]}, batch_size.StepBatchSize),
    "ramp": (
        {"start_batch_size": 64, "batch_size": 256, "ramp_examples": 900, "increment": 64},
        batch_size.RampBatchSize,
    ),
    "seesaw": ({"batch_size": 64, "boundaries": [1000]}, batch_size.SeesawBatchSize),
    "adaptive": (
        {"batch_size": 64, "max_batch_size": 512, "check_every": 1000},
        batch_size.AdaptiveBatchSize,
    ),
}


def test_names():
    assert batch_size.names() == sorted(EXAMPLES)
    assert schedules.batch_size is batch_size


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_every_name_builds_its_schedule(name):
    options, cls = EXAMPLES[name]
    schedule = batch_size.get(name.upper(), **options)
    assert type(schedule) is cls
    assert schedule.batch_at(0) == 64 if name != "constant" else 256


def test_steps_in_passes():
    schedule = batch_size.get("steps", passes=[(0, 64), (1.5, 256)], num_train=1000)
    assert schedule.change_points() == [(0, 64), (1500, 256)]


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({}, "not both or neither"),
        ({"changes": [(0, 64)], "passes": [(0, 64)], "num_train": 10}, "not both or neither"),
        ({"passes": [(0, 64)]}, "passes need num_train"),
        ({"changes": [(0, 64)], "num_train": 10}, "drop num_train"),
    ],
)
def test_steps_bad_options(options, match):
    with pytest.raises(ValueError, match=match):
        batch_size.get("steps", **options)


def test_unknown_name_lists_the_choices():
    with pytest.raises(ValueError, match="unknown batch-size schedule 'linear'") as info:
        batch_size.get("linear")
    for name in EXAMPLES:
        assert name in str(info.value)
