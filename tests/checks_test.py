"""The shared argument checks: one clear error naming the argument; the boundary count."""

import numpy as np
import pytest
from keras import ops

from lbkeras.checks import (
    boundaries_passed,
    check_boundaries,
    check_float,
    check_fraction,
    check_int,
    check_range,
)


@pytest.mark.parametrize(
    "value, kwargs",
    [
        (0.0, dict(low=0)),
        (1.0, dict(low=0, high=1)),
        (0.5, dict(low=0, high=1, low_open=True, high_open=True)),
        (-3.0, dict(high=0)),
        (-1e300, {}),
        (np.float32(0.25), dict(low=0, high=1)),
        (2, dict(low=0)),
    ],
)
def test_check_range_accepts_and_returns_a_float(value, kwargs):
    result = check_range("x", value, **kwargs)
    assert type(result) is float and result == float(value)


@pytest.mark.parametrize(
    "value, kwargs, message",
    [
        (0.0, dict(low=0, low_open=True), "x must be a finite number > 0, got 0.0"),
        (-0.5, dict(low=0), "x must be a finite number >= 0, got -0.5"),
        (1.0, dict(high=1, high_open=True), "x must be a finite number < 1, got 1.0"),
        (2.0, dict(high=1), "x must be a finite number <= 1, got 2.0"),
        (1.0, dict(low=0, high=1, high_open=True), r"x must be a finite number in \[0, 1\)"),
        (0.0, dict(low=0, high=1, low_open=True), r"x must be a finite number in \(0, 1\]"),
        (float("nan"), {}, "x must be a finite number, got nan"),
        (float("inf"), dict(low=0), "x must be a finite number >= 0, got inf"),
        (float("-inf"), dict(high=0), "x must be a finite number <= 0, got -inf"),
        (np.float64("nan"), dict(low=0, high=1), r"x must be a finite number in \[0, 1\], got nan"),
    ],
)
def test_check_range_names_the_argument_and_its_bounds(value, kwargs, message):
    with pytest.raises(ValueError, match=f"^{message}"):
        check_range("x", value, **kwargs)


@pytest.mark.parametrize("value", [True, False, "0.5", None, [0.5], 1j])
@pytest.mark.parametrize("check", [check_range, check_float, check_fraction])
def test_bools_and_non_numbers_are_type_errors(check, value):
    with pytest.raises(TypeError, match="^x must be a number"):
        check("x", value)


def test_check_float_and_check_fraction_are_ranges():
    assert check_float("x", 0) == 0.0
    with pytest.raises(ValueError, match="^x must be a finite number > 0, got 0.0"):
        check_float("x", 0.0, positive=True)
    assert check_fraction("momentum", 0.0) == 0.0
    assert check_fraction("momentum", 0.999) == 0.999
    with pytest.raises(ValueError, match=r"^momentum must be a finite number in \[0, 1\), got 1.0"):
        check_fraction("momentum", 1.0)


def test_check_int():
    assert check_int("n", np.int64(3), positive=True) == 3
    with pytest.raises(ValueError, match="^n must be an integer > 0, got 0"):
        check_int("n", 0, positive=True)
    for bad in (2.0, True, "3"):
        with pytest.raises(TypeError, match="^n must be an integer"):
            check_int("n", bad)


def test_check_boundaries():
    assert check_boundaries("boundaries", (0, 5, 9)) == [0, 5, 9]
    assert check_boundaries("boundaries", []) == []
    with pytest.raises(ValueError, match=r"^boundaries must be strictly increasing, got \[5, 5\]"):
        check_boundaries("boundaries", [5, 5])
    with pytest.raises(ValueError, match=r"^boundaries\[1\] must be an integer >= 0"):
        check_boundaries("boundaries", [1, -2])
    for bad in (10, "12", None):
        with pytest.raises(TypeError, match="^boundaries must be a sequence of integers"):
            check_boundaries("boundaries", bad)


@pytest.mark.parametrize("dtype", ["int32", "int64", "float32"])
def test_boundaries_passed_counts_boundaries_at_or_below_the_step(dtype):
    boundaries = [2, 5, 9]
    for step in range(12):
        expected = sum(b <= step for b in boundaries)
        count = boundaries_passed(ops.convert_to_tensor(step, dtype=dtype), boundaries)
        assert int(count) == expected, (step, dtype)
    assert int(boundaries_passed(3, [])) == 0


def test_boundaries_passed_is_exact_for_int64_steps_beyond_float32():
    step = 2**24 + 1  # float32 rounds it to 2**24
    assert int(boundaries_passed(ops.convert_to_tensor(step, dtype="int64"), [step])) == 1
    assert int(boundaries_passed(ops.convert_to_tensor(step - 1, dtype="int64"), [step])) == 0
