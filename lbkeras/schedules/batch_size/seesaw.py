"""Seesaw: where a step schedule would halve the learning rate, double the batch instead.

Meterez et al. (2025): at each boundary of a step learning-rate schedule, multiply the
rate by ``1/sqrt(2)`` instead of ``1/2`` and double the batch. It is three pieces
composed: the step decay (rate x 1/2), the batch x 2, and the square-root transfer
rule for the doubled batch (rate x sqrt(2)): 1/2 x sqrt(2) = 1/sqrt(2). With the
linear transfer rule (SGD) the rate x 2 cancels the decay, and Seesaw becomes Smith et
al. (2018)'s "don't decay the learning rate, increase the batch size" (``rule="linear"``).
Once the batch reaches ``max_batch_size``, each further boundary decays the rate as the
step schedule would (x 1/2), the batch stays.

:meth:`SeesawBatchSize.learning_rate_factor` is that product: the factor by which a
trainer multiplies its undecayed rate (constant after warmup). It already holds the
learning-rate transfer of Seesaw's batch changes, so a trainer applies no other
learning-rate transfer at them (other hyper-parameters, ``beta_2`` by its half-life or
the weight decay by its timescale, transfer as at any batch change:
:func:`lbkeras.scaling.transfer_hyperparameters` with ``rule="none"``). Rate and batch
are both functions of the examples seen, so they change at the same step: the first
step boundary at or after each boundary (:mod:`lbkeras.schedules.batch_size.base`).

References:
    Meterez, Morwani, Wu, Oncescu, Pehlevan, Kakade, "Seesaw: Accelerating Training by
    Balancing Learning Rate and Batch Size Scheduling", arXiv 2510.14717, 2025.
    Smith, Kindermans, Ying, Le, "Don't Decay the Learning Rate, Increase the Batch
    Size", ICLR 2018.

Example:
    >>> seesaw = SeesawBatchSize(256, boundaries=[4096, 8192])
    >>> [seesaw.batch_at(e) for e in (0, 4096, 8192)]
    [256, 512, 1024]
    >>> [round(seesaw.learning_rate_factor(e), 4) for e in (0, 4096, 8192)]  # 1/sqrt(2)^n
    [1.0, 0.7071, 0.5]
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import keras

from lbkeras.checks import check_boundaries, check_int
from lbkeras.scaling import scale_learning_rate
from lbkeras.schedules.batch_size.base import BatchSizeSchedule, check_batch_size, check_factor

#: Transfer rules Seesaw composes with: ``sqrt`` (Seesaw) and ``linear`` (Smith et al.).
SEESAW_RULES = ("sqrt", "linear")


@keras.saving.register_keras_serializable(package="lbkeras")
class SeesawBatchSize(BatchSizeSchedule):
    """The batch x ``factor`` at each of ``boundaries`` (in examples), up to ``max_batch_size``.

    Args:
        batch_size: the global batch before the first boundary.
        boundaries: the step schedule's boundaries in examples seen, strictly
            increasing, positive.
        max_batch_size: the batch grows while it stays ``<= max_batch_size``; past it
            the boundaries decay the rate only. None: no cap.
        factor: the integer growth of the batch at a boundary; the step schedule it
            replaces multiplies the rate by ``1 / factor``.
        rule: the learning-rate transfer rule for the grown batch: ``"sqrt"`` (Seesaw,
            rate x ``1/sqrt(factor)`` per boundary) or ``"linear"`` (Smith et al., rate
            unchanged).
        multiple_of: every batch must be a multiple of it (the replicas).

    Raises:
        ValueError: a bad boundary, factor, rule or cap, or a batch that is not a
            positive multiple of ``multiple_of``.

    Example:
        >>> smith = SeesawBatchSize(128, [1000, 2000, 3000], max_batch_size=512, rule="linear")
        >>> [smith.batch_at(e) for e in (999, 1000, 2000, 3000)]
        [128, 256, 512, 512]
        >>> [smith.learning_rate_factor(e) for e in (1000, 2000, 3000)]  # decay past the cap
        [1.0, 1.0, 0.5]
    """

    def __init__(
        self,
        batch_size: int,
        boundaries: Sequence[int],
        max_batch_size: int | None = None,
        factor: int = 2,
        rule: str = "sqrt",
        multiple_of: int = 1,
    ) -> None:
        super().__init__(multiple_of)
        self.batch_size = check_batch_size("batch_size", batch_size, self.multiple_of)
        self.boundaries = check_boundaries("boundaries", boundaries)
        if self.boundaries and self.boundaries[0] == 0:
            raise ValueError("boundaries must be positive (the batch at 0 is batch_size)")
        self.factor = check_factor(factor)
        if rule not in SEESAW_RULES:
            choices = ", ".join(SEESAW_RULES)
            raise ValueError(f"unknown Seesaw rule {rule!r}; choose one of: {choices}")
        self.rule = rule
        self.max_batch_size = max_batch_size
        if max_batch_size is not None:
            self.max_batch_size = check_int("max_batch_size", max_batch_size, positive=True)
            if self.max_batch_size < self.batch_size:
                raise ValueError(
                    f"max_batch_size={max_batch_size} is below batch_size={batch_size}: "
                    "raise it, or leave it None for no cap"
                )
        self._points = [(0, self.batch_size)]
        for boundary in self.boundaries:
            grown = self._points[-1][1] * self.factor
            if self.max_batch_size is not None and grown > self.max_batch_size:
                break
            self._points.append((boundary, grown))

    def change_points(self) -> list[tuple[int, int]]:
        return list(self._points)

    def learning_rate_factor(self, examples_seen: int) -> float:
        """The factor on the undecayed learning rate after ``examples_seen`` examples:
        ``(1 / factor)^n`` for the ``n`` boundaries ``<= examples_seen`` (the step decay),
        times the rule's transfer (``sqrt`` or ``linear``) for ``batch_at(examples_seen) /
        batch_size`` (the batch grown so far)."""
        examples_seen = check_int("examples_seen", examples_seen)
        decays = sum(boundary <= examples_seen for boundary in self.boundaries)
        batch = self.batch_at(examples_seen)
        return scale_learning_rate(1.0, batch, self.batch_size, self.rule) / self.factor**decays

    def get_config(self) -> dict[str, Any]:
        return {
            "batch_size": self.batch_size,
            "boundaries": list(self.boundaries),
            "max_batch_size": self.max_batch_size,
            "factor": self.factor,
            "rule": self.rule,
            **super().get_config(),
        }
