"""TensorBoard scalars: examples per second, the large-batch payoff."""

from __future__ import annotations

import time

import keras
import tensorflow as tf


class ThroughputLogger(keras.callbacks.Callback):
    """Writes ``examples_per_second`` (global, all replicas) at the end of every epoch.

    Measured on the host from epoch start to epoch end, so it includes input and
    synchronisation costs, like the throughput a user sees, and adds no per-step host
    synchronisation. The run's mean, kept in :attr:`examples_per_second` for
    ``results.json``, leaves out the first epoch (tracing, start-up) when there are others.

    Args:
        log_dir: folder of the event files, or None to only measure (non-chief workers).
        global_batch_size: examples per optimizer step, summed over replicas.
    """

    def __init__(self, log_dir: str | None, global_batch_size: int) -> None:
        super().__init__()
        self.log_dir = log_dir
        self.global_batch_size = global_batch_size
        self.examples_per_second = float("nan")
        self._writer = None
        self._start = 0.0
        self._first_step = 0
        self._epochs: list[tuple[int, float]] = []  # (steps, seconds) of each epoch

    def on_train_begin(self, logs=None):
        if self.log_dir is not None:
            self._writer = tf.summary.create_file_writer(self.log_dir)

    def on_epoch_begin(self, epoch, logs=None):
        self._first_step = int(self.model.optimizer.iterations.numpy())
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        seconds = time.perf_counter() - self._start
        end = int(self.model.optimizer.iterations.numpy())
        steps = end - self._first_step
        if steps <= 0:
            return
        self._epochs.append((steps, seconds))
        if self._writer is not None:
            with self._writer.as_default(step=end - 1):
                tf.summary.scalar("examples_per_second", steps * self.global_batch_size / seconds)

    def on_train_end(self, logs=None):
        timed = self._epochs[1:] or self._epochs
        if timed:
            steps = sum(s for s, _ in timed)
            self.examples_per_second = steps * self.global_batch_size / sum(t for _, t in timed)
        if self._writer is not None:
            self._writer.close()
