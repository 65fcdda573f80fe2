"""A constant learning rate, as a schedule.

Lets code that always expects a ``LearningRateSchedule`` (the command-line trainer,
:class:`~lbkeras.schedules.Warmup`) treat a fixed learning rate like any other.

Example:
    >>> round(float(Constant(0.1)(500)), 6)  # 0.1 at every step
    0.1
"""

from __future__ import annotations

from typing import Any

import keras
from keras import ops

from lbkeras.checks import check_float


@keras.saving.register_keras_serializable(package="lbkeras")
class Constant(keras.optimizers.schedules.LearningRateSchedule):
    """Returns ``learning_rate`` at every step, as float32.

    Args:
        learning_rate: the learning rate, a finite number ``>= 0``.

    Example:
        >>> optimizer = keras.optimizers.SGD(Constant(0.1))
    """

    def __init__(self, learning_rate: float) -> None:
        super().__init__()
        self.learning_rate = check_float("learning_rate", learning_rate)

    def __call__(self, step: Any) -> Any:
        del step  # the same value at every step
        return ops.convert_to_tensor(self.learning_rate, dtype="float32")

    def get_config(self) -> dict[str, Any]:
        return {"learning_rate": self.learning_rate}
