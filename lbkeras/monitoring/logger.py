"""TensorBoard summaries of :class:`~lbkeras.monitoring.GradientStatistics`, once per epoch.

Tags (all on the optimizer-step axis, one point per ``every_steps`` updates):

* ``noise_scale/b_simple``: ``B_simple = tr(Sigma) / |G|^2`` (McCandlish et al. 2018),
  the batch beyond which larger batches buy few steps; it grows as the loss falls.
* ``noise_scale/batch_over_b_simple``: the batch of one update over ``B_simple``: below
  1 a larger batch still pays almost fully; well above 1 the run is past the critical
  batch and steps cost examples without saving time.
* ``noise_scale/trace_sigma``, ``noise_scale/grad_norm_sq``: the smoothed ``tr(Sigma)``
  (per-example gradient variance) and ``|G|^2`` (true gradient's squared norm).
* ``gradients/global_norm``: the norm of the whole all-reduced gradient;
  ``updates/update_to_weight``: the norm of the whole update over the weights' norm.
* ``weight_norm/PATH``, ``gradient_norm/PATH``, ``update_to_weight/PATH`` and
  ``trust_ratio/PATH`` per variable (``variable.path``), and the histogram
  ``trust_ratios`` across variables (1 for variables without a ratio).

Use it beside a :class:`~lbkeras.monitoring.GradientStatistics` in the model's optimizer
(``lbkeras-train --monitor_every_steps=N`` sets up both):
``model.fit(..., callbacks=[GradientStatisticsLogger(log_dir, small_batch_size=b)])``.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable

import keras
import numpy as np
import tensorflow as tf

from lbkeras.callbacks.learning_rate import learning_rate_at
from lbkeras.callbacks.writers import WriterCallback
from lbkeras.monitoring.gradient_statistics import GradientStatistics
from lbkeras.optimizers import AdaScale, noise_scale
from lbkeras.optimizers.wrapper import find_in_chain


class AdaScaleProgress(WriterCallback, keras.callbacks.Callback):
    """At every epoch end: writes AdaScale's ``adascale/gain``, ``adascale/tau`` and
    ``adascale/learning_rate`` (the gain times the schedule at tau), and stops training
    once ``tau`` reaches ``schedule_steps``, the base run's length.

    Args:
        writer: a shared ``tf.summary`` writer, a folder for one of its own, or None.
        schedule_steps: the base run's length in steps.
    """

    def __init__(self, writer: str | tf.summary.SummaryWriter | None, schedule_steps: int) -> None:
        super().__init__()
        self._set_writer(writer)
        self.schedule_steps = schedule_steps

    def on_epoch_end(self, epoch, logs=None):
        adascale = find_in_chain(self.model.optimizer, AdaScale)
        step = int(self.model.optimizer.iterations.numpy())
        if self.writer is not None:
            rate = learning_rate_at(adascale.inner_optimizer, adascale.tau) * adascale.gain
            with self.writer.as_default(step=step):
                tf.summary.scalar("adascale/gain", adascale.gain)
                tf.summary.scalar("adascale/tau", adascale.tau)
                tf.summary.scalar("adascale/learning_rate", rate)
        if adascale.tau >= self.schedule_steps:
            self.model.stop_training = True

    def on_train_end(self, logs=None):
        self._close_writer()


class GradientStatisticsLogger(WriterCallback, keras.callbacks.Callback):
    """Writes the rows :class:`GradientStatistics` buffered during each epoch.

    Reads the buffer once per epoch (one host transfer), so the training steps run
    without host synchronisation.

    Args:
        writer: a shared ``tf.summary`` writer, or a folder for one of its own.
        small_batch_size: examples of one small-batch gradient: one replica's
            micro-batch (the per-replica batch); or, when the batch follows a schedule, a
            function of the optimizer step giving it.
    """

    def __init__(
        self,
        writer: str | tf.summary.SummaryWriter,
        small_batch_size: int | Callable[[int], int],
    ) -> None:
        super().__init__()
        self._set_writer(writer)
        self.small_batch_size = small_batch_size
        self._read = 0
        self._warned = False

    def on_train_begin(self, logs=None):
        self.statistics = find_in_chain(self.model.optimizer, GradientStatistics)
        if self.statistics is None:
            raise ValueError(
                "GradientStatisticsLogger needs a GradientStatistics in the model's optimizer"
            )
        self._read = self.statistics.rows_written

    def on_epoch_end(self, epoch, logs=None):
        written = self.statistics.rows_written
        if written - self._read > self.statistics.capacity:
            logging.warning(
                "gradient statistics: %d rows were overwritten before they were read; "
                "raise capacity or every_steps",
                written - self._read - self.statistics.capacity,
            )
        rows = self.statistics.rows(since=self._read)
        self._read = written
        with self.writer.as_default():
            for row in rows:
                self._write(row)

    def _write(self, row: dict) -> None:
        step = int(row["step"])
        b = (
            self.small_batch_size(step)
            if callable(self.small_batch_size)
            else self.small_batch_size
        )
        if row["n"] < 2 and not self._warned:
            logging.warning(
                "gradient statistics: one small-batch gradient per update, so no noise scale; "
                "use several replicas or gradient accumulation"
            )
            self._warned = True
        if row["ema_weight"] > 0:
            estimate = noise_scale.debiased(
                row["ema_grad_norm_sq"], row["ema_trace_per_b"], row["ema_weight"], b
            )
            simple = estimate["b_simple"]
            tf.summary.scalar("noise_scale/grad_norm_sq", estimate["grad_norm_sq"], step=step)
            tf.summary.scalar("noise_scale/trace_sigma", estimate["trace_sigma"], step=step)
            if math.isfinite(simple):
                tf.summary.scalar("noise_scale/b_simple", simple, step=step)
                tf.summary.scalar(
                    "noise_scale/batch_over_b_simple", row["n"] * b / simple, step=step
                )
        tf.summary.scalar("gradients/global_norm", row["grad_norm"], step=step)
        tf.summary.scalar("updates/update_to_weight", row["update_to_weight"], step=step)
        for path, weight in row["weight_norm"].items():
            tf.summary.scalar(f"weight_norm/{path}", weight, step=step)
            tf.summary.scalar(f"gradient_norm/{path}", row["gradient_norm"][path], step=step)
            ratio = row["update_norm"][path] / weight if weight > 0 else 0.0
            tf.summary.scalar(f"update_to_weight/{path}", ratio, step=step)
            tf.summary.scalar(f"trust_ratio/{path}", row["trust_ratio"][path], step=step)
        tf.summary.histogram("trust_ratios", np.array(list(row["trust_ratio"].values())), step=step)

    def on_train_end(self, logs=None):
        self._close_writer()
