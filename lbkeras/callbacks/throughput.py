"""TensorBoard scalars: examples per second, the large-batch payoff."""

from __future__ import annotations

import time
from collections.abc import Callable

import keras
import tensorflow as tf

from lbkeras.callbacks.writers import WriterCallback


class ThroughputLogger(WriterCallback, keras.callbacks.Callback):
    """Writes ``examples_per_second`` (global, all replicas) at the end of every epoch.

    Measured on the host from epoch start to the end of its training steps (evaluation
    inside ``fit`` is left out), so it includes input and synchronisation costs, like
    the throughput a user sees, and adds no per-step host synchronisation. Written at
    the optimizer step the epoch ended at. The run's mean so far,
    :attr:`examples_per_second` for ``results.json``, leaves out the first epoch
    (tracing, start-up) when there are others.

    Args:
        writer: a shared ``tf.summary`` writer, a folder for one of its own, or None to
            only measure (non-chief workers).
        examples_per_update: examples per optimizer update, summed over replicas (the
            global batch, times the accumulation steps); or, when the batch follows a
            schedule, a function of the step giving the examples before it
            (:meth:`lbkeras.training.Plan.examples_before`).

    It counts optimizer updates (``optimizer.iterations``) rather than implementing a
    batch hook: Keras turns every batch's logs into Python numbers (a host
    synchronisation per step) as soon as one callback has a batch hook.
    """

    def __init__(
        self,
        writer: str | tf.summary.SummaryWriter | None,
        examples_per_update: int | Callable[[int], int],
    ) -> None:
        super().__init__()
        self._set_writer(writer)
        if callable(examples_per_update):
            self._examples_before = examples_per_update
        else:
            self._examples_before = lambda step: step * examples_per_update
        self._start = 0.0
        self._stop = None
        self._first_step = 0
        self._epochs: list[tuple[int, float]] = []  # (examples, seconds) of each epoch

    def on_epoch_begin(self, epoch, logs=None):
        self._first_step = int(self.model.optimizer.iterations.numpy())
        self._stop = None
        self._start = time.perf_counter()

    def on_test_begin(self, logs=None):
        if self._stop is None:  # evaluation inside fit: the training steps are over
            self._stop = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        seconds = (self._stop or time.perf_counter()) - self._start
        end = int(self.model.optimizer.iterations.numpy())
        if end <= self._first_step:
            return
        examples = self._examples_before(end) - self._examples_before(self._first_step)
        self._epochs.append((examples, seconds))
        if self.writer is not None:
            with self.writer.as_default(step=end):
                tf.summary.scalar("examples_per_second", examples / seconds)

    @property
    def examples_per_second(self) -> float:
        """The mean over the epochs ended so far, the first left out; NaN before any."""
        timed = self._epochs[1:] or self._epochs
        if not timed:
            return float("nan")
        return sum(e for e, _ in timed) / sum(t for _, t in timed)

    def on_train_end(self, logs=None):
        self._close_writer()
