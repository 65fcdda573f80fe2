"""TensorBoard scalars on the optimizer-step axis: the epoch's training and eval metrics."""

from __future__ import annotations

import keras
import tensorflow as tf

#: The prefix Keras gives evaluation metrics in ``fit``'s logs.
EVAL_PREFIX = "val_"


class MetricsLogger(keras.callbacks.Callback):
    """Writes the epoch's metrics at the optimizer step the epoch ended at.

    Keras's ``TensorBoard`` callback puts epoch metrics on an epoch axis, and the
    learning rate or the throughput logged per step then cannot be compared with them;
    runs with different batches (a different number of steps per epoch) cannot be
    compared either. Here every metric goes on the step axis: the training ones
    (``loss``, ``accuracy``) to ``train_writer``, the evaluation ones (Keras's ``val_``
    metrics, without the prefix) to ``eval_writer``, so that TensorBoard draws train and
    eval of one tag in one chart. :meth:`write_eval` logs an evaluation made after ``fit``.

    Args:
        train_writer: ``tf.summary`` writer of the training split.
        eval_writer: ``tf.summary`` writer of the eval split.
    """

    def __init__(
        self, train_writer: tf.summary.SummaryWriter, eval_writer: tf.summary.SummaryWriter
    ) -> None:
        super().__init__()
        self.train_writer = train_writer
        self.eval_writer = eval_writer

    def on_epoch_end(self, epoch, logs=None):
        step = int(self.model.optimizer.iterations.numpy())
        train = {k: v for k, v in (logs or {}).items() if not k.startswith(EVAL_PREFIX)}
        evaluation = {
            k[len(EVAL_PREFIX) :]: v for k, v in (logs or {}).items() if k.startswith(EVAL_PREFIX)
        }
        self._write(self.train_writer, train, step)
        self._write(self.eval_writer, evaluation, step)

    def write_eval(self, metrics: dict[str, float], step: int) -> None:
        """Logs evaluation ``metrics`` (without the ``val_`` prefix) at ``step``."""
        self._write(self.eval_writer, metrics, step)

    @staticmethod
    def _write(writer: tf.summary.SummaryWriter, metrics: dict[str, float], step: int) -> None:
        if not metrics:
            return
        with writer.as_default(step=step):
            for name, value in metrics.items():
                if name != "learning_rate":  # LearningRateLogger writes it for every step
                    tf.summary.scalar(name, float(value))
