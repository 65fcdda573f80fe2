"""One global batch for the whole run: the default, and the baseline of every schedule.

Example:
    >>> schedule = ConstantBatchSize(2048, multiple_of=8)
    >>> schedule.batch_at(10**9), schedule.stages(16_000)
    (2048, [Stage(first_step=0, first_example=0, batch_size=2048, steps=8)])
"""

from __future__ import annotations

from typing import Any

import keras

from lbkeras.schedules.batch_size.base import BatchSizeSchedule, check_batch_size


@keras.saving.register_keras_serializable(package="lbkeras")
class ConstantBatchSize(BatchSizeSchedule):
    """The global batch ``batch_size`` at every example count.

    Args:
        batch_size: the global batch.
        multiple_of: ``batch_size`` must be a multiple of it (the replicas).

    Example:
        >>> ConstantBatchSize(256).stages(1000)[-1].end_example  # 4 whole steps
        1024
    """

    def __init__(self, batch_size: int, multiple_of: int = 1) -> None:
        super().__init__(multiple_of)
        self.batch_size = check_batch_size("batch_size", batch_size, self.multiple_of)

    def change_points(self) -> list[tuple[int, int]]:
        return [(0, self.batch_size)]

    def get_config(self) -> dict[str, Any]:
        return {"batch_size": self.batch_size, **super().get_config()}
