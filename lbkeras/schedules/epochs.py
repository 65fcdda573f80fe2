"""Converting epochs to optimizer steps.

Recipes state their schedules in epochs (Goyal et al. 2017: warm up for 5 epochs,
divide by 10 at epochs 30, 60, 80); schedules count optimizer steps, one per global
batch. These helpers do the conversion once, explicitly.

References:
    Goyal et al., "Accurate, Large Minibatch SGD: Training ImageNet in 1 Hour", 2017.

Example:
    >>> spe = steps_per_epoch(1_281_167, 8192)
    >>> spe
    156
    >>> epochs_to_steps([30, 60, 80], spe)
    [4680, 9360, 12480]
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from lbkeras.checks import check_float, check_int


def steps_per_epoch(num_examples: int, global_batch_size: int, drop_remainder: bool = True) -> int:
    """Optimizer steps in one pass over ``num_examples`` with batches of ``global_batch_size``.

    Args:
        num_examples: examples in the training set, ``> 0``.
        global_batch_size: batch summed over all replicas and workers, ``> 0``.
        drop_remainder: whether the last, partial batch is dropped (rounds down) or kept
            (rounds up).

    Returns:
        The number of steps, ``>= 1``.

    Raises:
        ValueError: a non-positive input, or fewer examples than one batch with
            ``drop_remainder=True`` (no step at all).
    """
    num_examples = check_int("num_examples", num_examples, positive=True)
    global_batch_size = check_int("global_batch_size", global_batch_size, positive=True)
    if not drop_remainder:
        return -(-num_examples // global_batch_size)
    if num_examples < global_batch_size:
        raise ValueError(
            f"num_examples={num_examples} is smaller than global_batch_size={global_batch_size}: "
            "with drop_remainder=True an epoch has no step; use a smaller batch or "
            "drop_remainder=False"
        )
    return num_examples // global_batch_size


def epochs_to_steps(epochs: float | Sequence[float], steps_per_epoch: float) -> int | list[int]:
    """``epochs * steps_per_epoch`` rounded to the nearest int (halves up), for one or many.

    Args:
        epochs: a number of epochs ``>= 0`` (may be fractional), or a sequence of them
            (schedule boundaries).
        steps_per_epoch: optimizer steps per epoch, ``> 0``; may be fractional (``N / B``,
            the steps of one pass over the data).

    Returns:
        An int for a number, a list of ints for a sequence.

    Raises:
        ValueError: a negative number of epochs or a non-positive ``steps_per_epoch``.
    """
    steps_per_epoch = check_float("steps_per_epoch", steps_per_epoch, positive=True)
    if isinstance(epochs, Sequence) and not isinstance(epochs, (str, bytes)):
        return [epochs_to_steps(e, steps_per_epoch) for e in epochs]
    return math.floor(check_float("epochs", epochs) * steps_per_epoch + 0.5)
