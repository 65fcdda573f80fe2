"""Growing the batch on the measured critical batch: feeds B_simple to an adaptive schedule.

:class:`GrowBatchSize` reads the rows :class:`GradientStatistics` buffered during a loop
(a Keras epoch) and measures the loop's gradient noise scale: ``B_simple`` = the loop's
mean ``tr(Sigma)`` over its mean ``|G|^2``, from each step's unbiased estimates
(:func:`lbkeras.optimizers.noise_scale.unbiased_estimates`) at that step's small batch.
Not the statistics' own running averages: those average ``tr(Sigma) / b`` over steps,
which after a change of the batch mixes two ``b`` (B_simple read from them jumps ``k``-fold
at a ``k``-fold growth and relaxes over ~``1 / (1 - decay)`` steps), while a loop has one
batch (decisions are taken at loop ends). It feeds the loop's value, at the examples
seen at the loop's end, to an :class:`~lbkeras.schedules.batch_size.AdaptiveBatchSize`,
which smooths the loops' values and, at its checks, may grow the batch. A decision can
take effect only at a step boundary the input has not passed, hence at loop ends; a
growing decision stops ``fit`` there (``model.stop_training``): the trainer backs up
that loop with the schedule's state and continues from the backup with a new plan,
exactly as a resumed run does (:func:`lbkeras.training.run`).

Every worker computes the same statistics (their sums ride in the gradients'
all-reduce), so every worker takes the same decision; the callback checks that they
did (one small collective per decision) and stops with an error if not, rather than
let the workers train different batches.

A resumed run gets the schedule's decisions back from the backup's record (the trainer
passes :meth:`GrowBatchSize.state` to :class:`~lbkeras.callbacks.Backup`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import keras
import numpy as np

from lbkeras.distribute import across_workers
from lbkeras.monitoring.gradient_statistics import GradientStatistics
from lbkeras.optimizers import noise_scale
from lbkeras.optimizers.wrapper import find_in_chain
from lbkeras.schedules.batch_size import AdaptiveBatchSize


class GrowBatchSize(keras.callbacks.Callback):
    """Feeds each loop's measured ``B_simple`` to ``schedule``; stops ``fit`` at a loop end
    where it grows the batch.

    Args:
        schedule: the run's adaptive batch-size schedule (with its state so far).
        examples_before: examples trained on before an optimizer step.
        small_batch_size: one replica's batch at an optimizer step (the small-batch
            gradient of the noise scale).
        last_step: the run's last step: no decision is taken at the end of the run.

    Attributes:
        grew: the last ``fit`` stopped on a decision that grew the batch.
    """

    def __init__(
        self,
        schedule: AdaptiveBatchSize,
        examples_before: Callable[[int], int],
        small_batch_size: Callable[[int], int],
        last_step: int,
    ) -> None:
        super().__init__()
        self.schedule = schedule
        self.examples_before = examples_before
        self.small_batch_size = small_batch_size
        self.last_step = last_step
        self.grew = False
        self._read = 0

    def state(self) -> dict[str, Any]:
        """The schedule's state, for the backup of a loop."""
        return self.schedule.get_config()["state"]

    def on_train_begin(self, logs=None):
        self.statistics = find_in_chain(self.model.optimizer, GradientStatistics)
        if self.statistics is None:
            raise ValueError("GrowBatchSize needs a GradientStatistics in the model's optimizer")
        self._read = self.statistics.rows_written
        self.grew = False

    def on_epoch_end(self, epoch, logs=None):
        rows = self.statistics.rows(since=self._read)
        self._read = self.statistics.rows_written
        step = int(self.model.optimizer.iterations.numpy())
        if step >= self.last_step:
            return
        decision = self.schedule.observe(self.examples_before(step), self._estimate(rows))
        if decision is None or decision.new_batch_size == decision.old_batch_size:
            return
        votes = across_workers(self.model.distribute_strategy, decision.new_batch_size)
        if set(votes) != {decision.new_batch_size}:
            raise RuntimeError(
                f"the workers decided different batches at step {step}: {sorted(set(votes))}"
            )
        logging.info(
            "step %d, after %d examples: B_simple %.0f >= %g x %d: the global batch grows to %d",
            step,
            decision.examples,
            decision.estimate,
            self.schedule.threshold,
            decision.old_batch_size,
            decision.new_batch_size,
        )
        self.grew = True
        self.model.stop_training = True

    def _estimate(self, rows: list[dict[str, Any]]) -> float | None:
        """``B_simple`` of a loop's rows, None without a valid one."""
        rows = [row for row in rows if row["n"] >= 2]
        if not rows:
            return None
        g2, trace_per_b = (
            np.asarray(value, np.float64)
            for value in noise_scale.unbiased_estimates(
                *(np.array([row[key] for row in rows]) for key in ("local", "total", "n"))
            )
        )
        small = np.array([self.small_batch_size(int(row["step"])) for row in rows])
        valid = np.isfinite(g2) & np.isfinite(trace_per_b)
        mean_g2 = g2[valid].mean() if valid.any() else 0.0
        if not mean_g2 > 0:
            return None
        return float((trace_per_b * small)[valid].mean() / mean_g2)
