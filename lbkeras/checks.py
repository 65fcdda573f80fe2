"""Argument checks shared by lbkeras (one clear error naming the argument), and step conversion."""

from __future__ import annotations

import math
import numbers
from typing import Any

from keras import ops


def check_float(name: str, value: Any, positive: bool = False) -> float:
    """``value`` as a float, after checking it is a finite number ``>= 0`` (``> 0`` if positive)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a number, got {value!r}")
    value = float(value)
    if not math.isfinite(value) or value < 0 or (positive and value == 0):
        bound = "> 0" if positive else ">= 0"
        raise ValueError(f"{name} must be a finite number {bound}, got {value!r}")
    return value


def check_int(name: str, value: Any, positive: bool = False) -> int:
    """``value`` as an int, after checking it is an integer ``>= 0`` (``> 0`` if positive)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer, got {value!r}")
    value = int(value)
    if value < 0 or (positive and value == 0):
        raise ValueError(f"{name} must be an integer {'> 0' if positive else '>= 0'}, got {value}")
    return value


def float_step(step: Any) -> Any:
    """The step (a Python int, an integer or float tensor, or a variable) as a float32 tensor."""
    return ops.cast(ops.convert_to_tensor(step), "float32")
