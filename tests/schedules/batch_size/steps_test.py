"""Tests for lbkeras.schedules.batch_size.steps against hand tables."""

from __future__ import annotations

import pytest

from lbkeras.schedules.batch_size import StepBatchSize
from tests.schedules.batch_size.common import assert_round_trips, reference_stages


def test_batch_at_hand_table():
    schedule = StepBatchSize([(0, 128), (10_000, 512), (50_000, 1024)])
    table = {0: 128, 9_999: 128, 10_000: 512, 49_999: 512, 50_000: 1024, 10**9: 1024}
    assert {e: schedule.batch_at(e) for e in table} == table


def test_stages_hand_table():
    schedule = StepBatchSize([(0, 128), (10_000, 512), (50_000, 1024)])
    # 128 x 79 = 10,112 is the first boundary at or after 10,000; 10,112 + 512 x 78 = 50,048.
    expected = [(0, 0, 128, 79), (79, 10_112, 512, 78), (157, 50_048, 1024, 49)]
    assert schedule.stages(100_000) == expected
    assert reference_stages(schedule, 100_000) == expected
    assert schedule.stages(100_000)[-1].end_example == 100_224


def test_from_passes():
    schedule = StepBatchSize.from_passes([(0, 64), (2.5, 256), (10, 1024)], num_train=16_000)
    assert schedule.change_points() == [(0, 64), (40_000, 256), (160_000, 1024)]
    # A fractional pass rounds to the nearest example.
    thirds = StepBatchSize.from_passes([(0, 1), (1 / 3, 2)], num_train=10)
    assert thirds.change_points() == [(0, 1), (3, 2)]


def test_any_batches_and_numpy_integers():
    np = pytest.importorskip("numpy")
    schedule = StepBatchSize([(np.int64(0), np.int64(96)), (1000, 32)], multiple_of=32)
    assert schedule.change_points() == [(0, 96), (1000, 32)]
    assert schedule.get_config() == {"changes": [[0, 96], [1000, 32]], "multiple_of": 32}


def test_round_trips():
    assert_round_trips(StepBatchSize([(0, 8), (33, 24), (100, 16)], multiple_of=8), 500)


@pytest.mark.parametrize(
    ("changes", "match"),
    [
        ([(5, 64)], r"start at 0 examples .* add \(0, batch\)"),
        ([(0, 64), (10, 128), (10, 256)], "strictly increasing"),
        ([(0, 64), (10, 128), (5, 256)], "strictly increasing"),
        ([(0, 64), (-1, 128)], "examples"),
        ([(0, 0)], "batch"),
        ([(0, 64), (10, 96)], r"changes\[1\] batch=96 .* multiple of 64"),
        ([], "non-empty"),
        ([(0, 64, 1)], "pair"),
        ("0:64", "non-empty list"),
    ],
)
def test_bad_changes(changes, match):
    with pytest.raises(ValueError, match=match):
        StepBatchSize(changes, multiple_of=64)


def test_bad_passes():
    with pytest.raises(ValueError, match="passes"):
        StepBatchSize.from_passes([(0, 64), (-1, 128)], num_train=100)
    with pytest.raises(ValueError, match="num_train"):
        StepBatchSize.from_passes([(0, 64)], num_train=0)
    with pytest.raises(TypeError, match="examples"):
        StepBatchSize([(0.5, 64)])
