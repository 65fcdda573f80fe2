"""Grow the batch when the measured critical batch outgrows it.

The critical batch starts near zero and grows during training (McCandlish et al. 2018;
Merrill et al. 2025). :class:`AdaptiveBatchSize` follows an estimate of it fed in as
training goes (the gradient noise scale ``B_simple`` of
:class:`lbkeras.monitoring.GradientStatistics`, or any other): it smooths the fed
values with an exponential moving average and, at most once per ``check_every``
examples, multiplies the batch by ``factor`` when the smoothed estimate is at least
``threshold`` times the current batch, up to ``max_batch_size``. It never shrinks.

Every decision is a pure function of the values fed and the example counts they were
fed at, so workers fed the same all-reduced statistic decide alike, and the state
(:meth:`AdaptiveBatchSize.get_config`) restores a resumed run to decide identically.

References:
    McCandlish, Kaplan, Amodei, OpenAI Dota Team, "An Empirical Model of Large-Batch
    Training", arXiv 1812.06162, 2018.
    Merrill, Arora, Groeneveld, Hajishirzi, "Critical Batch Size Revisited", arXiv
    2505.23971, 2025.

Example:
    >>> schedule = AdaptiveBatchSize(64, max_batch_size=256, check_every=1000, smoothing=0.0)
    >>> schedule.observe(640, 200.0) is None  # not yet a check
    True
    >>> schedule.observe(1024, 200.0)  # 200 >= 2 x 64: double
    Decision(examples=1024, estimate=200.0, old_batch_size=64, new_batch_size=128)
    >>> schedule.observe(2048, 200.0).new_batch_size  # 200 < 2 x 128: keep
    128
    >>> schedule.stages(3000)  # the batch 128 from the check at 1024 examples on
    [Stage(first_step=0, first_example=0, batch_size=64, steps=16),
     Stage(first_step=16, first_example=1024, batch_size=128, steps=16)]
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import keras

from lbkeras.checks import check_fraction, check_int, check_range
from lbkeras.schedules.batch_size.base import BatchSizeSchedule, check_batch_size, check_factor


class Decision(NamedTuple):
    """One check of :class:`AdaptiveBatchSize`.

    Attributes:
        examples: examples seen at the check (a step boundary: the new batch applies
            to the step that starts there).
        estimate: the smoothed critical-batch estimate, or None before any valid value.
        old_batch_size: the batch before the check.
        new_batch_size: the batch after it (``old_batch_size`` when kept).
    """

    examples: int
    estimate: float | None
    old_batch_size: int
    new_batch_size: int


@keras.saving.register_keras_serializable(package="lbkeras")
class AdaptiveBatchSize(BatchSizeSchedule):
    """The batch x ``factor`` when the smoothed critical batch reaches ``threshold`` x batch.

    Feed it with :meth:`observe` at step boundaries; ask the batch with the methods of
    :class:`~lbkeras.schedules.batch_size.base.BatchSizeSchedule`, which know the past
    decisions (:meth:`stages` continues the current batch to the end).

    Args:
        batch_size: the global batch at the start.
        max_batch_size: the batch grows while ``batch x factor <= max_batch_size``.
        check_every: examples between checks: a check is made at the first
            observation at or after each multiple of it.
        threshold: grow when the smoothed estimate is ``>= threshold x batch`` (2 with
            ``factor=2``: the grown batch is still at most the estimate).
        factor: the integer growth at a decision.
        smoothing: the EMA decay per fed value, in ``[0, 1)`` (0: the last value);
            the first valid value starts the average.
        multiple_of: every batch must be a multiple of it (the replicas).
        state: what :meth:`get_config` saved (None: a fresh start).

    Raises:
        ValueError: bad numbers, or a batch not a positive multiple of ``multiple_of``.
    """

    def __init__(
        self,
        batch_size: int,
        max_batch_size: int,
        check_every: int,
        threshold: float = 2.0,
        factor: int = 2,
        smoothing: float = 0.9,
        multiple_of: int = 1,
        state: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(multiple_of)
        self.batch_size = check_batch_size("batch_size", batch_size, self.multiple_of)
        self.max_batch_size = check_int("max_batch_size", max_batch_size, positive=True)
        if self.max_batch_size < self.batch_size:
            raise ValueError(
                f"max_batch_size={max_batch_size} is below batch_size={batch_size}: raise it"
            )
        self.check_every = check_int("check_every", check_every, positive=True)
        self.threshold = check_range("threshold", threshold, 0, low_open=True)
        self.factor = check_factor(factor)
        self.smoothing = check_fraction("smoothing", smoothing)
        state = state or {}
        self.current_batch_size = check_int(
            "state current_batch_size", state.get("current_batch_size", self.batch_size), True
        )
        self.smoothed: float | None = state.get("smoothed")
        self.last_check = check_int("state last_check", state.get("last_check", 0))
        self.history = [Decision(*decision) for decision in state.get("history", [])]

    def observe(self, examples_seen: int, estimate: float | None) -> Decision | None:
        """Feeds the critical-batch estimate measured at ``examples_seen`` examples.

        A non-finite, non-positive or None ``estimate`` leaves the average as it is (a
        noise-scale estimate is meaningless while its ``|G|^2`` is not positive).

        Returns:
            The :class:`Decision` when this observation is a check, else None.

        Raises:
            ValueError: ``examples_seen`` before the last check.
        """
        examples_seen = check_int("examples_seen", examples_seen)
        if examples_seen < self.last_check:
            raise ValueError(
                f"examples_seen={examples_seen} is before the last check at {self.last_check}: "
                "feed observations in order (a resumed run restores the state it saved)"
            )
        if estimate is not None and math.isfinite(estimate) and estimate > 0:
            value = float(estimate)
            self.smoothed = (
                value
                if self.smoothed is None
                else self.smoothing * self.smoothed + (1 - self.smoothing) * value
            )
        if examples_seen // self.check_every <= self.last_check // self.check_every:
            return None
        old = self.current_batch_size
        grown = old * self.factor
        new = (
            grown
            if self.smoothed is not None
            and self.smoothed >= self.threshold * old
            and grown <= self.max_batch_size
            else old
        )
        decision = Decision(examples_seen, self.smoothed, old, new)
        self.history.append(decision)
        self.current_batch_size = new
        self.last_check = examples_seen
        return decision

    def change_points(self) -> list[tuple[int, int]]:
        points = [(0, self.batch_size)]
        for decision in self.history:
            if decision.new_batch_size != decision.old_batch_size:
                points.append((decision.examples, decision.new_batch_size))
        return points

    def get_config(self) -> dict[str, Any]:
        return {
            "batch_size": self.batch_size,
            "max_batch_size": self.max_batch_size,
            "check_every": self.check_every,
            "threshold": self.threshold,
            "factor": self.factor,
            "smoothing": self.smoothing,
            **super().get_config(),
            "state": {
                "current_batch_size": self.current_batch_size,
                "smoothed": self.smoothed,
                "last_check": self.last_check,
                "history": [list(decision) for decision in self.history],
            },
        }
