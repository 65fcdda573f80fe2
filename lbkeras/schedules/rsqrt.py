"""Inverse square-root decay: ``initial / sqrt(1 + step / timescale)``.

The Transformer schedule (Vaswani et al. 2017) decays as ``1 / sqrt(step)`` after its
warmup; big_vision's ``"rsqrt"`` decay shifts it so that it starts at the initial
rate: ``lr = initial / sqrt(1 + step / timescale)``. Wrapped in
``Warmup(..., shift=True)`` it reproduces big_vision's warmup + rsqrt schedule.

References:
    Vaswani et al., "Attention Is All You Need", NeurIPS 2017.
    big_vision, ``big_vision/utils.py``, ``create_learning_rate_schedule(decay_type="rsqrt")``,
    https://github.com/google-research/big_vision.

Example:
    >>> float(InverseSqrtDecay(1.0, timescale=100)(300))  # 1 / sqrt(4)
    0.5
"""

from __future__ import annotations

from typing import Any

import keras
from keras import ops

from lbkeras.checks import check_float, float_step


@keras.saving.register_keras_serializable(package="lbkeras")
class InverseSqrtDecay(keras.optimizers.schedules.LearningRateSchedule):
    """``initial_learning_rate / sqrt(1 + step / timescale)``.

    Args:
        initial_learning_rate: the learning rate at step 0.
        timescale: steps over which the rate falls to ``1 / sqrt(2)`` of the initial, ``> 0``.

    Returns:
        A float32 scalar for each step.

    Raises:
        ValueError: a negative learning rate or a non-positive timescale.

    Example:
        >>> schedule = InverseSqrtDecay(1e-3, timescale=10_000)
    """

    def __init__(self, initial_learning_rate: float, timescale: float = 10000) -> None:
        super().__init__()
        self.initial_learning_rate = check_float("initial_learning_rate", initial_learning_rate)
        self.timescale = check_float("timescale", timescale, positive=True)

    def __call__(self, step: Any) -> Any:
        initial = ops.convert_to_tensor(self.initial_learning_rate, dtype="float32")
        return initial * ops.rsqrt(1.0 + float_step(step) / self.timescale)

    def get_config(self) -> dict[str, Any]:
        return {"initial_learning_rate": self.initial_learning_rate, "timescale": self.timescale}
