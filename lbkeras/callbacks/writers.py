"""TensorBoard event writers shared by lbkeras's callbacks: one per split, one file each."""

from __future__ import annotations

import os

import tensorflow as tf

#: The run folders under ``log_dir``: training summaries, and evaluation on the eval split.
SPLITS = ("train", "eval")


class SummaryWriters:
    """One ``tf.summary`` writer per split under ``log_dir`` (``log_dir/train``, ``log_dir/eval``).

    Every lbkeras callback of a run writes through the same writer of a split, so each
    split's folder gets one event file per run, which TensorBoard shows as one run.
    Writers are created on first use and closed by :meth:`close` (the trainer calls it
    after ``fit``; a callback given a folder instead of a writer owns and closes its own).

    Example:
        >>> import tempfile
        >>> writers = SummaryWriters(tempfile.mkdtemp())
        >>> with writers("eval").as_default(step=100):
        ...     _ = tf.summary.scalar("accuracy", 0.9)
        >>> writers.close()
        >>> sorted(os.listdir(writers.log_dir))
        ['eval']
    """

    def __init__(self, log_dir: str) -> None:
        self.log_dir = log_dir
        self._writers: dict[str, tf.summary.SummaryWriter] = {}

    def __call__(self, split: str) -> tf.summary.SummaryWriter:
        if split not in SPLITS:
            raise ValueError(f"unknown split {split!r}; choose one of: {', '.join(SPLITS)}")
        if split not in self._writers:
            self._writers[split] = tf.summary.create_file_writer(os.path.join(self.log_dir, split))
        return self._writers[split]

    def flush(self) -> None:
        for writer in self._writers.values():
            writer.flush()

    def close(self) -> None:
        for writer in self._writers.values():
            writer.close()
        self._writers.clear()


class WriterCallback:
    """Mixin: a callback writing to a shared writer, or to its own one in a folder."""

    def _set_writer(self, writer: str | tf.summary.SummaryWriter | None) -> None:
        self._owns_writer = isinstance(writer, str)
        self._log_dir = writer if self._owns_writer else None
        self._writer = None if self._owns_writer else writer

    @property
    def writer(self) -> tf.summary.SummaryWriter | None:
        if self._writer is None and self._log_dir is not None:
            self._writer = tf.summary.create_file_writer(self._log_dir)
        return self._writer

    def _close_writer(self) -> None:
        if self._owns_writer and self._writer is not None:
            self._writer.close()
            self._writer = None
