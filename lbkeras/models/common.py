"""Pieces every model family shares: argument checks and the logits head."""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from typing import Any

import keras

from lbkeras.checks import check_fraction, check_int


def check_arguments(
    model: str, input_shape: Sequence[int], num_classes: int, ranks: Sequence[int] | None = None
) -> tuple[tuple[int, ...], int]:
    """``(input_shape, num_classes)`` after checking them, ``input_shape`` as a tuple.

    Args:
        model: the model's name, for error messages.
        input_shape: the shape of one example, without the batch axis.
        num_classes: the number of logits, ``> 0``.
        ranks: the lengths of ``input_shape`` the model accepts (``None``: any).

    Raises:
        ValueError: naming ``model`` and what it accepts.
    """
    num_classes = check_int("num_classes", num_classes, positive=True)
    if (
        not isinstance(input_shape, Sequence)
        or not input_shape
        or not all(
            isinstance(size, numbers.Integral) and not isinstance(size, bool) and size > 0
            for size in input_shape
        )
    ):
        raise ValueError(
            f"{model}: input_shape must be a non-empty tuple of positive integers "
            f"(no batch axis), got {input_shape!r}"
        )
    shape = tuple(int(size) for size in input_shape)
    if ranks is not None and len(shape) not in ranks:
        accepted = " or ".join(str(rank) for rank in ranks)
        raise ValueError(
            f"{model}: input_shape must have rank {accepted} (no batch axis), got {shape}"
        )
    return shape, num_classes


def check_bool(name: str, value: Any) -> bool:
    """``value``, after checking it is a bool (not a string such as ``"false"``)."""
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be True or False, got {value!r}")
    return value


def check_momentum(value: float) -> float:
    """A batch-norm momentum in ``[0, 1)``."""
    return check_fraction("bn_momentum", value)


def logits(features: keras.KerasTensor, num_classes: int) -> keras.KerasTensor:
    """The classification head: ``Dense(num_classes)`` without activation, computed in float32.

    float32 keeps the logits (and so the loss) out of float16 under a
    ``mixed_float16`` policy, as the Keras mixed-precision guide recommends.
    """
    return keras.layers.Dense(num_classes, dtype="float32", name="logits")(features)
