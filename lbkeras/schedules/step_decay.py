"""Step decay: the learning rate is multiplied by ``decay_rate`` at each boundary.

The schedule of Goyal et al. (2017) for ResNet-50 on ImageNet divides the learning
rate by 10 at epochs 30, 60 and 80 of 90. Keras's ``PiecewiseConstantDecay`` can
express it too, but takes every value explicitly and switches one step later
(``step > boundary``); here the new rate starts *at* the boundary step.

References:
    Goyal et al., "Accurate, Large Minibatch SGD: Training ImageNet in 1 Hour", 2017.
    He, Zhang, Ren, Sun, "Deep Residual Learning for Image Recognition", CVPR 2016.

Example:
    >>> schedule = StepDecay(3.2, boundaries=[30 * 156, 60 * 156, 80 * 156])
    >>> float(schedule(30 * 156))  # 3.2 / 10 from the first boundary on
    0.32...
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import keras
from keras import ops

from lbkeras.checks import boundaries_passed, check_boundaries, check_float


@keras.saving.register_keras_serializable(package="lbkeras")
class StepDecay(keras.optimizers.schedules.LearningRateSchedule):
    """``initial_learning_rate * decay_rate ** n``, with ``n`` the number of boundaries ``<= step``.

    Args:
        initial_learning_rate: the learning rate before the first boundary.
        boundaries: strictly increasing non-negative integer steps; may be empty
            (a constant schedule).
        decay_rate: the factor applied at each boundary (0.1 divides by 10).

    Returns:
        A float32 scalar for each step.

    Raises:
        ValueError: negative rates or boundaries, or boundaries not strictly increasing.

    Example:
        >>> steps_per_epoch = 1281167 // 8192
        >>> schedule = StepDecay(3.2, [e * steps_per_epoch for e in (30, 60, 80)])
    """

    def __init__(
        self,
        initial_learning_rate: float,
        boundaries: Sequence[int],
        decay_rate: float = 0.1,
    ) -> None:
        super().__init__()
        self.initial_learning_rate = check_float("initial_learning_rate", initial_learning_rate)
        self.decay_rate = check_float("decay_rate", decay_rate)
        self.boundaries = check_boundaries("boundaries", boundaries)

    def __call__(self, step: Any) -> Any:
        lr = ops.convert_to_tensor(self.initial_learning_rate, dtype="float32")
        if not self.boundaries:
            return lr
        num_passed = ops.cast(boundaries_passed(step, self.boundaries), "float32")
        return lr * ops.power(ops.convert_to_tensor(self.decay_rate, dtype="float32"), num_passed)

    def get_config(self) -> dict[str, Any]:
        return {
            "initial_learning_rate": self.initial_learning_rate,
            "boundaries": list(self.boundaries),
            "decay_rate": self.decay_rate,
        }
