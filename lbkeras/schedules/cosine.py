"""Cosine decay with an optional hold at the initial learning rate.

Cosine annealing (Loshchilov & Hutter 2017, SGDR without restarts) decays from the
initial to the end learning rate along half a cosine. Keras's ``CosineDecay`` has no
hold phase and takes the end only as a fraction ``alpha`` of the initial rate; this
schedule holds the initial (peak) rate for ``hold_steps`` first, as used after warmup
in large-batch recipes, and takes the end rate as an absolute value.

References:
    Loshchilov & Hutter, "SGDR: Stochastic Gradient Descent with Warm Restarts", ICLR 2017.

Example:
    >>> schedule = CosineDecayWithHold(1.0, decay_steps=100, hold_steps=10)
    >>> [round(float(schedule(step)), 6) for step in (0, 10, 60, 110, 200)]
    [1.0, 1.0, 0.5, 0.0, 0.0]
"""

from __future__ import annotations

import math
from typing import Any

import keras
from keras import ops

from lbkeras.checks import check_float, check_int, float_step


@keras.saving.register_keras_serializable(package="lbkeras")
class CosineDecayWithHold(keras.optimizers.schedules.LearningRateSchedule):
    """Holds ``initial_learning_rate`` for ``hold_steps``, then decays it along a half cosine.

    With ``t = min(max(step - hold_steps, 0), decay_steps)``::

        lr = end + (initial - end) * 0.5 * (1 + cos(pi * t / decay_steps))

    so ``lr = initial`` up to step ``hold_steps`` and ``lr = end`` from step
    ``hold_steps + decay_steps`` on. Unlike Keras's ``CosineDecay``, there is a hold
    phase and ``end_learning_rate`` is absolute, not a fraction ``alpha`` of the initial.

    Args:
        initial_learning_rate: the learning rate held and then decayed from.
        decay_steps: number of steps of the cosine decay, ``> 0``.
        end_learning_rate: the learning rate at the end of the decay and after it.
        hold_steps: number of steps at ``initial_learning_rate`` before the decay.

    Returns:
        A float32 scalar for each step.

    Raises:
        ValueError: negative rates or steps, or ``decay_steps == 0``.

    Example:
        >>> schedule = CosineDecayWithHold(0.1, decay_steps=9000, end_learning_rate=1e-4)
    """

    def __init__(
        self,
        initial_learning_rate: float,
        decay_steps: int,
        end_learning_rate: float = 0.0,
        hold_steps: int = 0,
    ) -> None:
        super().__init__()
        self.initial_learning_rate = check_float("initial_learning_rate", initial_learning_rate)
        self.decay_steps = check_int("decay_steps", decay_steps, positive=True)
        self.end_learning_rate = check_float("end_learning_rate", end_learning_rate)
        self.hold_steps = check_int("hold_steps", hold_steps)

    def __call__(self, step: Any) -> Any:
        t = ops.clip(float_step(step) - float(self.hold_steps), 0.0, float(self.decay_steps))
        cosine = 0.5 * (1.0 + ops.cos(math.pi * t / float(self.decay_steps)))
        initial = ops.convert_to_tensor(self.initial_learning_rate, dtype="float32")
        end = ops.convert_to_tensor(self.end_learning_rate, dtype="float32")
        return end + (initial - end) * cosine

    def get_config(self) -> dict[str, Any]:
        return {
            "initial_learning_rate": self.initial_learning_rate,
            "decay_steps": self.decay_steps,
            "end_learning_rate": self.end_learning_rate,
            "hold_steps": self.hold_steps,
        }
