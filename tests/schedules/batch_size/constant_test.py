"""Tests for lbkeras.schedules.batch_size.constant."""

from __future__ import annotations

import pytest

from lbkeras.schedules.batch_size import ConstantBatchSize
from tests.schedules.batch_size.common import assert_round_trips


def test_one_batch_everywhere():
    schedule = ConstantBatchSize(2048, multiple_of=8)
    assert [schedule.batch_at(e) for e in (0, 1, 2047, 2048, 10**12)] == [2048] * 5
    assert schedule.change_points() == [(0, 2048)]
    # 30 passes over MNIST-1D's 16,000 examples: 235 steps (the last one whole).
    assert schedule.stages(30 * 16_000) == [(0, 0, 2048, 235)]


def test_round_trips():
    assert_round_trips(ConstantBatchSize(96, multiple_of=3), 1000)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"batch_size": 0}, ValueError, "batch_size"),
        ({"batch_size": -8}, ValueError, "batch_size"),
        ({"batch_size": 8.0}, TypeError, "batch_size"),
        ({"batch_size": True}, TypeError, "batch_size"),
        ({"batch_size": 100, "multiple_of": 8}, ValueError, r"multiple of 8 \(96 or 104\)"),
    ],
)
def test_bad_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        ConstantBatchSize(**kwargs)
