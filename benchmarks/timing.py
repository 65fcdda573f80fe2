"""The timing callback the benchmarks share: optimizer steps and seconds after the first loop."""

from __future__ import annotations

import time

import keras


class LoopTimer(keras.callbacks.Callback):
    """Seconds and optimizer steps over the Keras epochs ("loops") after the first.

    The first loop traces and compiles; the others are timed whole, evaluation inside
    ``fit`` included, from ``optimizer.iterations`` (no per-step host synchronisation).

    Args:
        examples_per_step: examples per optimizer step, for :attr:`examples_per_second`.
    """

    def __init__(self, examples_per_step: int = 1) -> None:
        super().__init__()
        self.examples_per_step = examples_per_step
        self.seconds = 0.0
        self.steps = 0

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()
        self._first = int(self.model.optimizer.iterations.numpy())

    def on_epoch_end(self, epoch, logs=None):
        if epoch > 0:
            self.seconds += time.perf_counter() - self._start
            self.steps += int(self.model.optimizer.iterations.numpy()) - self._first

    @property
    def examples_per_second(self) -> float:
        return self.examples_per_step * self.steps / self.seconds

    @property
    def seconds_per_step(self) -> float:
        return self.seconds / self.steps
