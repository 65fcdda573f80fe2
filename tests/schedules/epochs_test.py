"""Tests for lbkeras.schedules.epochs."""

from __future__ import annotations

import pytest

from lbkeras.schedules import epochs_to_steps, steps_per_epoch


def test_steps_per_epoch():
    assert steps_per_epoch(1_281_167, 8192) == 156
    assert steps_per_epoch(1_281_167, 8192, drop_remainder=False) == 157
    assert steps_per_epoch(1024, 256) == steps_per_epoch(1024, 256, drop_remainder=False) == 4
    assert steps_per_epoch(100, 256, drop_remainder=False) == 1
    assert type(steps_per_epoch(1000, 10)) is int


def test_epochs_to_steps():
    assert epochs_to_steps(5, 156) == 780
    assert epochs_to_steps([30, 60, 80], 156) == [4680, 9360, 12480]
    assert epochs_to_steps((0.5, 1.25), 10) == [5, 13]  # 12.5 rounds half up
    assert epochs_to_steps(0, 10) == 0
    assert epochs_to_steps(0.3, 7) == 2
    assert epochs_to_steps([], 10) == []
    assert type(epochs_to_steps(2.0, 3)) is int


@pytest.mark.parametrize(
    ("args", "error"),
    [
        ((0, 256), ValueError),
        ((1000, 0), ValueError),
        ((-5, 256), ValueError),
        ((100, 256), ValueError),  # drop_remainder=True leaves no step
        ((1000.0, 256), TypeError),
    ],
)
def test_steps_per_epoch_bad_arguments(args, error):
    with pytest.raises(error):
        steps_per_epoch(*args)


@pytest.mark.parametrize(
    ("args", "error"),
    [
        ((5, 0), ValueError),
        ((5, -3), ValueError),
        ((-1, 10), ValueError),
        (([1, -1], 10), ValueError),
        ((float("nan"), 10), ValueError),
        (("5", 10), TypeError),
    ],
)
def test_epochs_to_steps_bad_arguments(args, error):
    with pytest.raises(error):
        epochs_to_steps(*args)
