"""Tests for lbkeras.schedules.constant."""

from __future__ import annotations

import pytest

from lbkeras.schedules import Constant
from tests.schedules.common import STEP_TYPES, assert_close, assert_round_trips, evaluate


@pytest.mark.parametrize("step_type", STEP_TYPES)
def test_constant(step_type):
    assert_close(evaluate(Constant(0.25), [0, 1, 7, 10**6], step_type), [0.25] * 4)


def test_round_trips():
    assert_round_trips(Constant(3), range(3))


def test_bad_arguments():
    with pytest.raises(ValueError):
        Constant(-0.1)
    with pytest.raises(TypeError):
        Constant(None)
