"""TensorBoard scalars: examples per second, the large-batch payoff."""

from __future__ import annotations

import time

import keras
import tensorflow as tf


class ThroughputLogger(keras.callbacks.Callback):
    """Writes ``examples_per_second`` (global, all replicas) every ``every_steps`` steps.

    Measured on the host between batch ends, so it includes input and synchronisation
    costs, like the throughput a user sees. The first window starts at the end of the
    first batch, so tracing and start-up do not count; windows run across epochs. The mean over the
    whole run is kept in :attr:`examples_per_second` for ``results.json``.

    Args:
        log_dir: folder of the event files, or None to only measure (non-chief workers).
        global_batch_size: examples per optimizer step, summed over replicas.
        every_steps: window length in steps.
    """

    def __init__(self, log_dir: str | None, global_batch_size: int, every_steps: int = 10) -> None:
        super().__init__()
        self.log_dir = log_dir
        self.global_batch_size = global_batch_size
        self.every_steps = max(1, every_steps)
        self.examples_per_second = float("nan")
        self._writer = None
        self._window_start = None
        self._window_steps = 0
        self._total_seconds = 0.0
        self._total_steps = 0

    def on_train_begin(self, logs=None):
        if self.log_dir is not None:
            self._writer = tf.summary.create_file_writer(self.log_dir)
        self._window_start = None

    def on_train_batch_end(self, batch, logs=None):
        now = time.perf_counter()
        if self._window_start is None:
            self._window_start, self._window_steps = now, 0
            return
        self._window_steps += 1
        if self._window_steps < self.every_steps:
            return
        seconds = now - self._window_start
        self._total_seconds += seconds
        self._total_steps += self._window_steps
        rate = self._window_steps * self.global_batch_size / seconds
        if self._writer is not None:
            step = int(self.model.optimizer.iterations.numpy()) - 1
            with self._writer.as_default(step=step):
                tf.summary.scalar("examples_per_second", rate)
        self._window_start, self._window_steps = now, 0

    def on_train_end(self, logs=None):
        if self._total_steps:
            self.examples_per_second = (
                self._total_steps * self.global_batch_size / self._total_seconds
            )
        if self._writer is not None:
            self._writer.close()
