"""Callbacks of a run whose batch follows a schedule: its scalars, and the hyper-parameters
that change with the batch.

:class:`BatchSizeLogger` writes ``batch_size`` and ``examples_seen`` for every optimizer
step to TensorBoard (the other scalars stay on the step axis; ``examples_seen`` is the
axis to compare runs of different batches on) and logs each change of the batch with
what transferred at it. Both are pure functions of the step (the run's
:class:`~lbkeras.schedules.batch_size.Stage` list), so an epoch's steps are written at
its end, without a per-step host synchronisation.

:class:`HyperparameterTransfer` sets the optimizer's hyper-parameters that Keras
optimizers hold as Python numbers (``beta_1``, ``beta_2``, ``epsilon``,
``weight_decay``) to each stage's values at the stage's first step, and has Keras
trace a new train step, which reads them. The learning rate needs none of this (it is
a schedule of the step: :class:`~lbkeras.schedules.ExamplesKeyed`). It hooks every
batch, which makes Keras synchronise with the host once per step, so a trainer adds it
only when a rule changes one of these (Malladi's rule, ``beta_2`` by half-life, the
weight decay by timescale). A new batch shape makes TensorFlow trace the step anyway
(each distinct batch is traced once: seconds for the models here).

Example:
    >>> import tempfile
    >>> from lbkeras.schedules.batch_size import StepBatchSize
    >>> stages = StepBatchSize([(0, 2), (8, 4)]).stages(16)
    >>> model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    >>> model.compile(keras.optimizers.Adam(0.01), "mse")
    >>> transfer = HyperparameterTransfer(stages, [{"beta_2": 0.999}, {"beta_2": 0.998}])
    >>> x = np.ones((16, 2), "float32")
    >>> data = tf.data.Dataset.from_tensor_slices((x, x[:, :1]))
    >>> batches = data.take(8).batch(2).concatenate(data.skip(8).batch(4))
    >>> _ = model.fit(batches, verbose=0, shuffle=False, callbacks=[transfer,
    ...     BatchSizeLogger(tempfile.mkdtemp(), stages)])
    >>> model.optimizer.beta_2, int(model.optimizer.iterations)
    (0.998, 6)
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence

import keras
import tensorflow as tf

from lbkeras.callbacks.writers import WriterCallback
from lbkeras.optimizers.wrapper import chain
from lbkeras.schedules.batch_size.base import Stage, examples_before, stage_index


class BatchSizeLogger(WriterCallback, keras.callbacks.Callback):
    """Writes ``batch_size`` and ``examples_seen`` (before the step) for every step, and
    logs each change of the batch (with ``descriptions[i]``, what transferred at the start
    of stage ``i``, if given) when the epoch holding it begins.

    Args:
        writer: a shared ``tf.summary`` writer, a folder for one of its own, or None to
            only log the changes (non-chief workers).
        stages: the run's stages, in order from step 0.
        descriptions: one line per stage, e.g. a
            :attr:`lbkeras.scaling.Transfer.description`.
    """

    def __init__(
        self,
        writer: str | tf.summary.SummaryWriter | None,
        stages: Sequence[Stage],
        descriptions: Sequence[str] = (),
    ) -> None:
        super().__init__()
        self._set_writer(writer)
        self.stages = list(stages)
        self.descriptions = list(descriptions)
        self._first_step = 0

    def on_epoch_begin(self, epoch, logs=None):
        self._first_step = int(self.model.optimizer.iterations.numpy())

    def on_epoch_end(self, epoch, logs=None):
        end = int(self.model.optimizer.iterations.numpy())
        for index, stage in enumerate(self.stages):
            if self._first_step <= stage.first_step < end and (index or self._first_step == 0):
                detail = f" ({self.descriptions[index]})" if index < len(self.descriptions) else ""
                logging.info(
                    "step %d, after %d examples: global batch %d%s",
                    stage.first_step,
                    stage.first_example,
                    stage.batch_size,
                    detail,
                )
        if self.writer is None:
            return
        with self.writer.as_default():
            for step in range(self._first_step, end):
                stage = self.stages[stage_index(self.stages, step)]
                tf.summary.scalar("batch_size", stage.batch_size, step=step)
                tf.summary.scalar("examples_seen", examples_before(self.stages, step), step=step)

    def on_train_end(self, logs=None):
        self._close_writer()


class HyperparameterTransfer(keras.callbacks.Callback):
    """Sets the hyper-parameters ``values[i]`` on the optimizer at the first step of stage
    ``i`` (and at the start of training, for the stage training starts in).

    ``learning_rate`` in ``values`` is skipped (the schedule has it); the others are set
    as attributes of the optimizer that takes the learning rate (the innermost of the
    wrapper chain), and a changed value makes the model trace a new train step.

    Args:
        stages: the run's stages, in order from step 0.
        values: per stage, the hyper-parameters by name.
    """

    def __init__(self, stages: Sequence[Stage], values: Sequence[Mapping[str, float]]) -> None:
        super().__init__()
        if len(stages) != len(values):
            raise ValueError(f"{len(stages)} stages but {len(values)} sets of values")
        self.stages = list(stages)
        self.values = [
            {k: float(v) for k, v in stage_values.items() if k != "learning_rate"}
            for stage_values in values
        ]
        self._starts = {stage.first_step: i for i, stage in enumerate(self.stages)}
        self._epoch_start = 0

    def on_train_begin(self, logs=None):
        step = int(self.model.optimizer.iterations.numpy())
        self._apply(stage_index(self.stages, step))

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch_start = int(self.model.optimizer.iterations.numpy())

    def on_train_batch_begin(self, batch, logs=None):
        index = self._starts.get(self._epoch_start + batch)
        if index is not None:
            self._apply(index)

    def _apply(self, index: int) -> None:
        optimizer = chain(self.model.optimizer)[-1]
        changed = False
        for name, value in self.values[index].items():
            if getattr(optimizer, name) != value:
                setattr(optimizer, name, value)
                changed = True
        if changed:
            self.model.make_train_function(force=True)
