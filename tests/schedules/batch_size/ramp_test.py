"""Tests for lbkeras.schedules.batch_size.ramp against NeMo's formula and hand tables."""

from __future__ import annotations

import pytest

from lbkeras.schedules.batch_size import RampBatchSize
from tests.schedules.batch_size.common import assert_round_trips, reference_stages


def megatron_batch(consumed, start, increment, ramp_samples, global_batch_size):
    """Megatron-LM's RampupBatchsizeNumMicroBatchesCalculator.update, transcribed."""
    num_increments = (global_batch_size - start) // increment
    samples_per_increment = ramp_samples / num_increments
    if consumed > ramp_samples:
        return global_batch_size
    return start + int(consumed / samples_per_increment) * increment


@pytest.mark.parametrize(
    "nemo", [(256, 128, 3000, 1024), (32, 32, 1000, 128), (16, 16, 50, 256), (1, 1, 2, 5)]
)
def test_matches_nemo(nemo):
    start, increment, ramp, batch = nemo
    schedule = RampBatchSize.from_nemo([start, increment, ramp], global_batch_size=batch)
    for consumed in range(2 * ramp + 3):
        assert schedule.batch_at(consumed) == megatron_batch(consumed, *nemo), consumed


def test_nemo_hand_table():
    schedule = RampBatchSize(256, 1024, ramp_examples=3000, increment=128)
    assert schedule.change_points() == [
        (0, 256), (500, 384), (1000, 512), (1500, 640), (2000, 768), (2500, 896), (3000, 1024)
    ]  # fmt: skip
    # Each change at the first step boundary at or after it; 896 (2,500-2,999) falls inside
    # the step of 768 that runs from 2,432 to 3,200, and is skipped.
    expected = [
        (0, 0, 256, 2), (2, 512, 384, 2), (4, 1280, 512, 1), (5, 1792, 640, 1),
        (6, 2432, 768, 1), (7, 3200, 1024, 1),
    ]  # fmt: skip
    assert schedule.stages(4000) == expected
    assert reference_stages(schedule, 4000) == expected


def test_doubling_hand_table():
    schedule = RampBatchSize(64, 512, ramp_examples=3000, doubling=True)
    assert schedule.change_points() == [(0, 64), (1000, 128), (2000, 256), (3000, 512)]
    expected = [(0, 0, 64, 16), (16, 1024, 128, 8), (24, 2048, 256, 4), (28, 3072, 512, 2)]
    assert schedule.stages(4000) == expected
    assert reference_stages(schedule, 4000) == expected


def test_more_changes_than_examples_keep_the_last():
    schedule = RampBatchSize(1, 5, ramp_examples=2, increment=1)
    assert schedule.change_points() == [(0, 1), (1, 3), (2, 5)]


def test_no_growth_is_constant():
    assert RampBatchSize(256, 256, 100, increment=64).change_points() == [(0, 256)]
    assert RampBatchSize(256, 256, 100, doubling=True).change_points() == [(0, 256)]


def test_round_trips():
    assert_round_trips(RampBatchSize(64, 256, 900, increment=64, multiple_of=64), 3000)
    assert_round_trips(RampBatchSize(8, 64, 900, doubling=True, multiple_of=8), 3000)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"increment": 64, "doubling": True}, "not both or neither"),
        ({}, "not both or neither"),
        ({"increment": 128}, r"increment=128 does not divide .* 192"),
        ({"batch_size": 448, "doubling": True}, "not a power of 2"),
        ({"batch_size": 320, "doubling": True}, "not a power of 2"),
        ({"batch_size": 32, "increment": 32}, "below start_batch_size"),
        ({"ramp_examples": 0, "increment": 64}, "ramp_examples"),
        ({"start_batch_size": 96, "increment": 32, "multiple_of": 64}, "multiple of 64"),
        ({"increment": 32, "multiple_of": 64}, r"increment=32 .* multiple of 64"),
        ({"increment": 0}, "increment"),
    ],
)
def test_bad_arguments(kwargs, match):
    arguments = {"start_batch_size": 64, "batch_size": 256, "ramp_examples": 1000, **kwargs}
    with pytest.raises(ValueError, match=match):
        RampBatchSize(**arguments)


def test_bad_nemo_list():
    with pytest.raises(ValueError, match=r"\[start, increment, ramp_samples\]"):
        RampBatchSize.from_nemo([256, 128], global_batch_size=1024)
