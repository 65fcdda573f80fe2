"""Tests for lbkeras.schedules.batch_size.base: the stages rule, against hand tables."""

from __future__ import annotations

import pytest

from lbkeras.schedules.batch_size import (
    BatchSizeSchedule,
    ConstantBatchSize,
    RampBatchSize,
    Stage,
    StepBatchSize,
    check_batch_size,
)
from tests.schedules.batch_size.common import reference_stages


@pytest.mark.parametrize(
    ("changes", "total", "expected"),
    [
        # Steps of 2 end at 2, 4, 6: the change at 5 takes effect at 6; the last step ends at 14.
        ([(0, 2), (5, 4)], 13, [(0, 0, 2, 3), (3, 6, 4, 2)]),
        # A change on a step boundary takes effect there.
        ([(0, 4), (8, 8)], 24, [(0, 0, 4, 2), (2, 8, 8, 2)]),
        # A decrease, one step late.
        ([(0, 8), (10, 2)], 20, [(0, 0, 8, 2), (2, 16, 2, 2)]),
        # The batch 2 lives inside one step of 8 (examples 9-11): skipped.
        ([(0, 8), (9, 2), (12, 4)], 32, [(0, 0, 8, 2), (2, 16, 4, 4)]),
        # Back to 8 within one step: no change at all.
        ([(0, 8), (9, 2), (12, 8)], 32, [(0, 0, 8, 4)]),
        # A change after the end never applies.
        ([(0, 8), (100, 16)], 32, [(0, 0, 8, 4)]),
        # A change inside the last step does not apply either.
        ([(0, 8), (30, 16)], 32, [(0, 0, 8, 4)]),
    ],
)
def test_stages_hand_table(changes, total, expected):
    schedule = StepBatchSize(changes)
    assert schedule.stages(total) == expected
    assert reference_stages(schedule, total) == expected


def test_last_partial_step_is_a_whole_batch():
    schedule = ConstantBatchSize(256)
    assert schedule.stages(1) == [(0, 0, 256, 1)]
    assert schedule.stages(1000) == [(0, 0, 256, 4)]
    assert schedule.stages(1024) == [(0, 0, 256, 4)]
    assert schedule.stages(1025) == [(0, 0, 256, 5)]
    (stage,) = schedule.stages(1025)
    assert (stage.end_step, stage.end_example) == (5, 1280)


def test_stages_are_contiguous_and_cover_the_total():
    schedule = RampBatchSize(32, 512, ramp_examples=5000, increment=32)
    for total in (1, 31, 32, 33, 4999, 5000, 5001, 12_345):
        stages = schedule.stages(total)
        assert stages == reference_stages(schedule, total)
        assert stages[0][:2] == (0, 0)
        for before, after in zip(stages, stages[1:]):
            assert (after.first_step, after.first_example) == (before.end_step, before.end_example)
            assert after.batch_size != before.batch_size
        last = stages[-1]
        assert last.end_example - last.batch_size < total <= last.end_example
        assert all(isinstance(value, int) and value > 0 for s in stages for value in s[2:])


def test_batch_at_is_the_batch_of_each_step():
    schedule = StepBatchSize([(0, 3), (7, 5), (20, 2)])
    for stage in schedule.stages(40):
        for step in range(stage.steps):
            assert (
                schedule.batch_at(stage.first_example + step * stage.batch_size) == stage.batch_size
            )


def test_stage_at():
    schedule = StepBatchSize([(0, 2), (5, 4)])
    assert schedule.stage_at(0) == Stage(0, 0, 2, 1)
    assert schedule.stage_at(5) == Stage(0, 0, 2, 3)  # example 5 is in the step of 4..5
    assert schedule.stage_at(6) == Stage(3, 6, 4, 1)
    assert schedule.stage_at(100).batch_size == 4


def test_check_batch_size():
    assert check_batch_size("batch_size", 128, 64) == 128
    with pytest.raises(ValueError, match=r"batch_size=96 .* multiple_of=64 .*\(64 or 128\)"):
        check_batch_size("batch_size", 96, 64)
    with pytest.raises(ValueError, match=r"choose a multiple of 8 \(8\)"):
        check_batch_size("batch_size", 4, 8)
    with pytest.raises(ValueError, match="batch_size"):
        check_batch_size("batch_size", 0, 1)
    with pytest.raises(TypeError, match="batch_size"):
        check_batch_size("batch_size", 64.0, 1)


@pytest.mark.parametrize(
    ("call", "error"),
    [
        (lambda s: s.stages(0), ValueError),
        (lambda s: s.stages(-5), ValueError),
        (lambda s: s.stages(10.5), TypeError),
        (lambda s: s.batch_at(-1), ValueError),
        (lambda s: s.stage_at(-1), ValueError),
    ],
)
def test_bad_arguments(call, error):
    with pytest.raises(error):
        call(ConstantBatchSize(8))


def test_multiple_of_must_be_positive():
    with pytest.raises(ValueError, match="multiple_of"):
        ConstantBatchSize(8, multiple_of=0)


def test_the_base_class_needs_change_points():
    with pytest.raises(NotImplementedError):
        BatchSizeSchedule().batch_at(0)
