"""TensorBoard scalars per step: the learning rate the optimizer actually used."""

from __future__ import annotations

import keras
import tensorflow as tf

from lbkeras.callbacks.writers import WriterCallback
from lbkeras.optimizers.wrapper import chain


class LearningRateLogger(WriterCallback, keras.callbacks.Callback):
    """Writes ``learning_rate`` for every ``every_steps``-th optimizer step to TensorBoard.

    The value at step ``s`` (0-based) is the optimizer's schedule evaluated at ``s``, the
    rate applied to that step's gradients. The steps of an epoch are written at its end
    (the schedule is a pure function of the step), so the callback adds no work and no
    host synchronisation to the training steps themselves. Keras's ``TensorBoard``
    callback logs the rate only once per epoch, after the epoch's last step.

    Args:
        writer: a ``tf.summary`` writer shared with other callbacks
            (:class:`~lbkeras.callbacks.SummaryWriters`), or a folder for one of its own.
        every_steps: logging period in optimizer steps.

    Example:
        >>> import tempfile
        >>> model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
        >>> halving = keras.optimizers.schedules.ExponentialDecay(0.1, 1, 0.5)
        >>> model.compile(keras.optimizers.SGD(halving), "mse")
        >>> logger = LearningRateLogger(tempfile.mkdtemp())
        >>> _ = model.fit(np.ones((8, 2)), np.ones((8, 1)), batch_size=4, verbose=0,
        ...               callbacks=[logger])
        >>> round(learning_rate_at(model.optimizer, 1), 6)  # steps 0 and 1 are logged
        0.05
    """

    def __init__(self, writer: str | tf.summary.SummaryWriter, every_steps: int = 1) -> None:
        super().__init__()
        if every_steps < 1:
            raise ValueError(f"every_steps must be >= 1, got {every_steps}")
        self._set_writer(writer)
        self.every_steps = every_steps
        self._first_step = 0

    def on_epoch_begin(self, epoch, logs=None):
        self._first_step = int(self.model.optimizer.iterations.numpy())

    def on_epoch_end(self, epoch, logs=None):
        end = int(self.model.optimizer.iterations.numpy())
        start = -(-self._first_step // self.every_steps) * self.every_steps
        with self.writer.as_default():
            for step in range(start, end, self.every_steps):
                tf.summary.scalar(
                    "learning_rate", learning_rate_at(self.model.optimizer, step), step=step
                )

    def on_train_end(self, logs=None):
        self._close_writer()


def learning_rate_at(optimizer: keras.optimizers.Optimizer, step: int) -> float:
    """The learning rate ``optimizer`` applies at ``step`` (0-based), as a float.

    Looks through wrappers (``LossScaleOptimizer``, lbkeras's) to the optimizer with the rate.
    """
    rate = chain(optimizer)[-1]._learning_rate
    if isinstance(rate, keras.optimizers.schedules.LearningRateSchedule):
        return float(rate(step))
    if callable(rate):
        return float(rate())
    return float(keras.ops.convert_to_numpy(rate))
