"""Batch-size warmup: from a small batch to the full one over a number of examples.

NeMo and Megatron-LM's ``rampup_batch_size=[start, increment, ramp_samples]`` grows
the global batch from ``start`` to the full batch ``B`` in ``n = (B - start) /
increment`` equal increments over ``ramp_samples`` examples: after ``c`` examples the
batch is ``start + floor(c n / ramp_samples) increment`` (``B`` from ``ramp_samples``
on). The doubling variant goes ``B0, 2 B0, 4 B0, ... B`` on the same grid of ``n =
log2(B / B0)`` equal intervals, the integer factors OLMo-core's scheduler uses. In
production: DeepSeek-V3 ramps 3,072 -> 15,360 over its first 469B tokens; Merrill et
al. (2025) follow the growing critical batch this way.

References:
    Merrill, Arora, Groeneveld, Hajishirzi, "Critical Batch Size Revisited", arXiv
    2505.23971, 2025.
    NVIDIA NeMo / Megatron-LM, ``rampup_batch_size``
    (``RampupBatchsizeNumMicroBatchesCalculator``).

Example:
    >>> ramp = RampBatchSize.from_nemo([256, 128, 3000], global_batch_size=1024)
    >>> ramp.change_points()  # 6 increments, one every 500 examples
    [(0, 256), (500, 384), (1000, 512), (1500, 640), (2000, 768), (2500, 896), (3000, 1024)]
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import keras

from lbkeras.checks import check_int
from lbkeras.schedules.batch_size.base import BatchSizeSchedule, check_batch_size


@keras.saving.register_keras_serializable(package="lbkeras")
class RampBatchSize(BatchSizeSchedule):
    """From ``start_batch_size`` to ``batch_size`` over ``ramp_examples``, in equal
    increments (``increment``, NeMo) or by doublings (``doubling=True``).

    With ``n`` changes, change ``i`` (1..n) is nominally at ``ceil(i ramp_examples / n)``
    examples, so the full batch applies from ``ramp_examples`` on; where two changes
    fall on one example count (``n > ramp_examples``) the later wins.

    Args:
        start_batch_size: the global batch at the start.
        batch_size: the global batch from ``ramp_examples`` on (``>= start_batch_size``).
        ramp_examples: examples over which the batch grows (positive).
        increment: the growth of each step of an equal-increment ramp; must divide
            ``batch_size - start_batch_size``.
        doubling: grow by doublings instead (``batch_size / start_batch_size`` a power
            of 2); give ``increment`` or ``doubling=True``, not both.
        multiple_of: every batch must be a multiple of it (the replicas).

    Raises:
        ValueError: batches not positive multiples of ``multiple_of``, an increment that
            does not divide the growth, a ratio that is not a power of 2, or both or
            neither of ``increment`` and ``doubling``.

    Example:
        >>> ramp = RampBatchSize(64, 512, ramp_examples=3000, doubling=True)
        >>> [ramp.batch_at(e) for e in (0, 999, 1000, 2000, 3000)]
        [64, 64, 128, 256, 512]
    """

    def __init__(
        self,
        start_batch_size: int,
        batch_size: int,
        ramp_examples: int,
        increment: int | None = None,
        doubling: bool = False,
        multiple_of: int = 1,
    ) -> None:
        super().__init__(multiple_of)
        self.start_batch_size = check_batch_size(
            "start_batch_size", start_batch_size, self.multiple_of
        )
        self.batch_size = check_batch_size("batch_size", batch_size, self.multiple_of)
        self.ramp_examples = check_int("ramp_examples", ramp_examples, positive=True)
        self.doubling = bool(doubling)
        self.increment = increment
        if self.batch_size < self.start_batch_size:
            raise ValueError(
                f"batch_size={batch_size} is below start_batch_size={start_batch_size}: a ramp "
                "grows the batch (use StepBatchSize for a schedule that shrinks it)"
            )
        if (increment is not None) == self.doubling:
            raise ValueError(
                "give increment=N (equal increments, NeMo's rampup_batch_size) or doubling=True, "
                f"not both or neither (got increment={increment!r}, doubling={doubling!r})"
            )
        growth = self.batch_size - self.start_batch_size
        if increment is not None:
            self.increment = check_batch_size("increment", increment, self.multiple_of)
            if growth % self.increment:
                raise ValueError(
                    f"increment={increment} does not divide batch_size - start_batch_size = "
                    f"{growth}: choose an increment that divides it"
                )
            self._batches = list(range(self.start_batch_size, self.batch_size + 1, self.increment))
        else:
            ratio, remainder = divmod(self.batch_size, self.start_batch_size)
            if remainder or ratio & (ratio - 1):
                raise ValueError(
                    f"batch_size / start_batch_size = {self.batch_size / self.start_batch_size:g} "
                    "is not a power of 2, as doubling needs: choose batch_size = start_batch_size "
                    "x 2^n, or an increment"
                )
            self._batches = [self.start_batch_size << i for i in range(ratio.bit_length())]

    @classmethod
    def from_nemo(
        cls, rampup_batch_size: Sequence[int], global_batch_size: int, multiple_of: int = 1
    ) -> RampBatchSize:
        """The ramp of NeMo's ``rampup_batch_size=[start, increment, ramp_samples]`` to
        ``global_batch_size``."""
        if isinstance(rampup_batch_size, (str, bytes)) or len(rampup_batch_size) != 3:
            raise ValueError(
                "rampup_batch_size must be [start, increment, ramp_samples], got "
                f"{rampup_batch_size!r}"
            )
        start, increment, ramp_samples = rampup_batch_size
        return cls(start, global_batch_size, ramp_samples, increment, multiple_of=multiple_of)

    def change_points(self) -> list[tuple[int, int]]:
        changes = len(self._batches) - 1
        points: dict[int, int] = {}
        for i, batch in enumerate(self._batches):
            points[-(-i * self.ramp_examples // max(changes, 1))] = batch
        return sorted(points.items())

    def get_config(self) -> dict[str, Any]:
        return {
            "start_batch_size": self.start_batch_size,
            "batch_size": self.batch_size,
            "ramp_examples": self.ramp_examples,
            "increment": self.increment,
            "doubling": self.doubling,
            **super().get_config(),
        }
