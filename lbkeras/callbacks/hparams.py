"""The run's hyper-parameters in TensorBoard's HParams dashboard, with its eval metrics."""

from __future__ import annotations

from typing import Any

import keras
import tensorflow as tf
from tensorboard.plugins.hparams import api as hp

from lbkeras.callbacks.writers import WriterCallback

#: The metrics the dashboard compares runs on: the eval split's scalars of these tags.
HPARAMS_METRICS = ("accuracy", "loss")


class HParamsLogger(WriterCallback, keras.callbacks.Callback):
    """Writes ``hparams`` as one HParams session in the eval split, at the start of training.

    The dashboard then compares runs by their last eval accuracy and loss
    (:data:`HPARAMS_METRICS`), the scalars :class:`~lbkeras.callbacks.MetricsLogger`
    writes to the same folder. The session must sit in the folder of those scalars:
    TensorBoard finds a session's metric in the run named session run + "/" + the
    metric's group, and the run of the folder TensorBoard is pointed at is named ".",
    so a session in ``logs/`` with metrics in ``logs/eval`` shows blank cells under
    ``--logdir=model_dir/logs`` (it looks for the run "./eval", which is named "eval")
    and values only under a parent folder. A session in ``logs/eval`` with metrics of
    its own run (group "") resolves in both views. The train split, a sibling folder,
    cannot be reached from there: its curves are in the scalars dashboard. Uses
    ``tensorboard.plugins.hparams.api`` as is: lbkeras only chooses what matters at
    large batch.

    Args:
        writer: the eval split's ``tf.summary`` writer
            (:class:`~lbkeras.callbacks.SummaryWriters`), or its folder
            (``model_dir/logs/eval``) for a writer of its own.
        hparams: name -> bool, int, float or str (anything else is logged as its str).
    """

    def __init__(self, writer: str | tf.summary.SummaryWriter, hparams: dict[str, Any]) -> None:
        super().__init__()
        self._set_writer(writer)
        self.hparams = {
            k: (v if isinstance(v, (bool, int, float, str)) else str(v)) for k, v in hparams.items()
        }

    def on_train_begin(self, logs=None):
        with self.writer.as_default():
            hp.hparams_config(
                hparams=[hp.HParam(name) for name in self.hparams],
                metrics=[hp.Metric(tag, display_name=f"eval {tag}") for tag in HPARAMS_METRICS],
            )
            hp.hparams(self.hparams)
        self.writer.flush()

    def on_train_end(self, logs=None):
        self._close_writer()
