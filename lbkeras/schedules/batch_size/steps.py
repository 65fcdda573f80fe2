"""An explicit batch-size schedule: ``[(examples, batch), ...]``, or in passes over the data.

Smith, Kindermans, Ying and Le (2018) raise the batch where a step schedule would
decay the learning rate; Merrill et al. (2025) warm the batch up as the critical batch
grows. Either can be written down as a list of changes.

References:
    Smith, Kindermans, Ying, Le, "Don't Decay the Learning Rate, Increase the Batch
    Size", ICLR 2018.
    Merrill, Arora, Groeneveld, Hajishirzi, "Critical Batch Size Revisited", arXiv
    2505.23971, 2025.

Example:
    >>> schedule = StepBatchSize.from_passes([(0, 64), (2.5, 256)], num_train=16_000)
    >>> schedule.get_config()["changes"]
    [[0, 64], [40000, 256]]
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import keras

from lbkeras.checks import check_float, check_int
from lbkeras.schedules.batch_size.base import BatchSizeSchedule, check_batch_size


def _pairs(name: str, changes: Any) -> list[tuple[Any, Any]]:
    """``changes`` as a list of 2-tuples, after checking its shape."""
    if isinstance(changes, (str, bytes)) or not isinstance(changes, Sequence) or not changes:
        raise ValueError(f"{name} must be a non-empty list of (start, batch) pairs: {changes!r}")
    pairs = []
    for i, pair in enumerate(changes):
        if isinstance(pair, (str, bytes)) or not isinstance(pair, Sequence) or len(pair) != 2:
            raise ValueError(f"{name}[{i}] must be a (start, batch) pair, got {pair!r}")
        pairs.append((pair[0], pair[1]))
    return pairs


@keras.saving.register_keras_serializable(package="lbkeras")
class StepBatchSize(BatchSizeSchedule):
    """From ``examples`` on, the global batch is ``batch``, for each ``(examples, batch)``.

    Any positive batches, growing or not; a change takes effect at the first step
    boundary at or after its start (see :mod:`lbkeras.schedules.batch_size.base`).
    :meth:`from_passes` takes the starts in passes over ``num_train`` examples.

    Args:
        changes: ``[(examples, batch), ...]`` with strictly increasing ``examples``,
            the first at 0 (the batch the run starts with).
        multiple_of: every batch must be a multiple of it (the replicas).

    Raises:
        ValueError: no change at 0, starts not increasing, a batch not a positive
            multiple of ``multiple_of``.

    Example:
        >>> schedule = StepBatchSize([(0, 128), (10_000, 512), (50_000, 1024)])
        >>> [schedule.batch_at(e) for e in (0, 9_999, 10_000, 49_999, 50_000)]
        [128, 128, 512, 512, 1024]
    """

    def __init__(self, changes: Sequence[tuple[int, int]], multiple_of: int = 1) -> None:
        super().__init__(multiple_of)
        pairs = _pairs("changes", changes)
        self.changes = [
            (
                check_int(f"changes[{i}] examples", examples),
                check_batch_size(f"changes[{i}] batch", batch, self.multiple_of),
            )
            for i, (examples, batch) in enumerate(pairs)
        ]
        if self.changes[0][0] != 0:
            raise ValueError(
                f"changes must start at 0 examples (the batch the run starts with), got "
                f"{self.changes[0][0]}: add (0, batch) in front"
            )
        starts = [examples for examples, _ in self.changes]
        if any(a >= b for a, b in zip(starts, starts[1:])):
            raise ValueError(f"the starts of changes must be strictly increasing, got {starts}")

    @classmethod
    def from_passes(
        cls, changes: Sequence[tuple[float, int]], num_train: int, multiple_of: int = 1
    ) -> StepBatchSize:
        """The schedule with starts in passes over ``num_train`` training examples
        (``round(passes * num_train)`` examples; a pass may be fractional)."""
        num_train = check_int("num_train", num_train, positive=True)
        pairs = _pairs("changes", changes)
        return cls(
            [
                (round(check_float(f"changes[{i}] passes", passes) * num_train), batch)
                for i, (passes, batch) in enumerate(pairs)
            ],
            multiple_of,
        )

    def change_points(self) -> list[tuple[int, int]]:
        return list(self.changes)

    def get_config(self) -> dict[str, Any]:
        return {"changes": [list(pair) for pair in self.changes], **super().get_config()}
