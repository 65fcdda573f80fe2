"""Argument checks shared by lbkeras (one clear error naming the argument), and step helpers."""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from itertools import pairwise
from typing import Any

import keras
from keras import ops


def check_range(
    name: str,
    value: Any,
    low: float | None = None,
    high: float | None = None,
    *,
    low_open: bool = False,
    high_open: bool = False,
) -> float:
    """``value`` as a float, after checking it is a finite number between ``low`` and ``high``.

    Bools, non-numbers (``TypeError``), NaN and infinities (``ValueError``) are rejected
    whatever the bounds. A bound of None is no bound; ``low_open`` and ``high_open``
    exclude the bound itself.

    Example:
        >>> check_range("momentum", 0.9, 0, 1, high_open=True)
        0.9
        >>> check_range("momentum", float("nan"), 0, 1, high_open=True)
        Traceback (most recent call last):
        ...
        ValueError: momentum must be a finite number in [0, 1), got nan
        >>> check_range("trust_coefficient", float("inf"), 0, low_open=True)
        Traceback (most recent call last):
        ...
        ValueError: trust_coefficient must be a finite number > 0, got inf
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a number, got {value!r}")
    value = float(value)
    too_low = low is not None and (value <= low if low_open else value < low)
    too_high = high is not None and (value >= high if high_open else value > high)
    if not math.isfinite(value) or too_low or too_high:
        raise ValueError(
            f"{name} must be a finite number{_interval(low, high, low_open, high_open)}, "
            f"got {value!r}"
        )
    return value


def _interval(low: float | None, high: float | None, low_open: bool, high_open: bool) -> str:
    """The bounds as a message fragment: " >= 0", " < 1" or " in [0, 1)"; "" for none."""
    if low is not None and high is not None:
        return f" in {'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"
    if low is not None:
        return f" {'>' if low_open else '>='} {low:g}"
    if high is not None:
        return f" {'<' if high_open else '<='} {high:g}"
    return ""


def check_float(name: str, value: Any, positive: bool = False) -> float:
    """``value`` as a float, after checking it is a finite number ``>= 0`` (``> 0`` if positive)."""
    return check_range(name, value, 0, low_open=positive)


def check_fraction(name: str, value: Any) -> float:
    """``value`` as a float in ``[0, 1)``: a momentum, an Adam beta, a dropout rate."""
    return check_range(name, value, 0, 1, high_open=True)


def check_int(name: str, value: Any, positive: bool = False) -> int:
    """``value`` as an int, after checking it is an integer ``>= 0`` (``> 0`` if positive)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer, got {value!r}")
    value = int(value)
    if value < 0 or (positive and value == 0):
        raise ValueError(f"{name} must be an integer {'> 0' if positive else '>= 0'}, got {value}")
    return value


def check_boundaries(name: str, boundaries: Any) -> list[int]:
    """``boundaries`` as a list, after checking they are strictly increasing integers ``>= 0``."""
    if isinstance(boundaries, (str, bytes)) or not isinstance(boundaries, Sequence):
        raise TypeError(f"{name} must be a sequence of integers, got {boundaries!r}")
    boundaries = [check_int(f"{name}[{i}]", b) for i, b in enumerate(boundaries)]
    if any(b >= c for b, c in pairwise(boundaries)):
        raise ValueError(f"{name} must be strictly increasing, got {boundaries}")
    return boundaries


def float_step(step: Any) -> Any:
    """The step (a Python int, an integer or float tensor, or a variable) as a float32 tensor."""
    return ops.cast(ops.convert_to_tensor(step), "float32")


def boundaries_passed(step: Any, boundaries: Sequence[int]) -> Any:
    """How many of ``boundaries`` are ``<= step``, an int32 scalar tensor.

    The comparison is in the step's own integer dtype (a float step: float32), because
    float32 counts steps exactly only below 2**24.

    Example:
        >>> int(boundaries_passed(30, [10, 30, 50]))
        2
    """
    step = ops.convert_to_tensor(step)
    dtype = keras.backend.standardize_dtype(step.dtype)
    if not keras.backend.is_int_dtype(dtype):
        dtype = "float32"
    passed = ops.greater_equal(ops.cast(step, dtype), ops.array(boundaries, dtype=dtype))
    return ops.sum(ops.cast(passed, "int32"))
