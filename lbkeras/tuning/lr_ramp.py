"""The learning rate of the range test: a ramp from ``min_lr`` to ``max_lr``.

The schedule :func:`lbkeras.tuning.lr_range.lr_range_test` puts in place of the
optimizer's own for the test: one step at each rate, exponentially (Smith) or linearly
spaced, counted from the optimizer step at which the test begins.

References:
    Smith, "Cyclical Learning Rates for Training Neural Networks", WACV 2017
    (arXiv:1506.01186, 2015).

Example:
    >>> optimizer = keras.optimizers.SGD(LearningRateRamp(1e-7, 10.0, num_steps=100))
"""

from __future__ import annotations

import math
from typing import Any

import keras
from keras import ops

from lbkeras.checks import check_float, check_int, float_step

#: How the rate grows from ``min_lr`` to ``max_lr``.
MODES = ("exponential", "linear")


@keras.saving.register_keras_serializable(package="lbkeras")
class LearningRateRamp(keras.optimizers.schedules.LearningRateSchedule):
    """The rate of the range test: ``min_lr`` to ``max_lr`` over ``num_steps`` steps.

    With ``i = step - start_step``, clipped to ``[0, num_steps - 1]``:

    * ``mode="exponential"``: ``min_lr * (max_lr / min_lr) ** (i / (num_steps - 1))``;
    * ``mode="linear"``: ``min_lr + (max_lr - min_lr) * i / (num_steps - 1)``.

    Args:
        min_lr: the rate of the first step, ``> 0``.
        max_lr: the rate of the last step, ``> min_lr``.
        num_steps: steps of the ramp, ``>= 2``.
        mode: one of :data:`MODES`.
        start_step: the optimizer step (``iterations``) at which the ramp starts.

    Example:
        >>> ramp = LearningRateRamp(1e-4, 1.0, num_steps=5, start_step=10)
        >>> [round(float(ramp(step)), 6) for step in (10, 11, 14, 20)]
        [0.0001, 0.001, 1.0, 1.0]
    """

    def __init__(
        self,
        min_lr: float,
        max_lr: float,
        num_steps: int,
        mode: str = "exponential",
        start_step: int = 0,
    ) -> None:
        super().__init__()
        self.min_lr = check_float("min_lr", min_lr, positive=True)
        self.max_lr = check_float("max_lr", max_lr, positive=True)
        self.num_steps = check_int("num_steps", num_steps)
        if self.num_steps < 2:
            raise ValueError(f"num_steps must be >= 2, got {num_steps}")
        if mode not in MODES:
            raise ValueError(f"mode={mode!r}; choose one of: {', '.join(MODES)}")
        self.mode = mode
        self.start_step = check_int("start_step", start_step)

    def __call__(self, step: Any) -> Any:
        offset = float_step(step) - float(self.start_step)
        fraction = ops.clip(offset, 0.0, self.num_steps - 1.0) / (self.num_steps - 1.0)
        if self.mode == "linear":
            return self.min_lr + (self.max_lr - self.min_lr) * fraction
        return self.min_lr * ops.exp(math.log(self.max_lr / self.min_lr) * fraction)

    def get_config(self) -> dict[str, Any]:
        return {
            "min_lr": self.min_lr,
            "max_lr": self.max_lr,
            "num_steps": self.num_steps,
            "mode": self.mode,
            "start_step": self.start_step,
        }
