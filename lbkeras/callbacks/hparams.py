"""The run's hyper-parameters in TensorBoard's HParams dashboard, with its eval metrics."""

from __future__ import annotations

from typing import Any

import keras
import tensorflow as tf
from tensorboard.plugins.hparams import api as hp

#: The metrics the dashboard compares runs on: (tag, run folder under the log dir).
HPARAMS_METRICS = (
    ("accuracy", "eval"),
    ("loss", "eval"),
    ("accuracy", "train"),
    ("loss", "train"),
)


class HParamsLogger(keras.callbacks.Callback):
    """Writes ``hparams`` as one HParams session in ``log_dir``, at the start of training.

    TensorBoard's HParams plugin reads a session's metrics from the scalars of the
    session's run folder and the folders below it, so the session goes to the log dir
    whose ``eval`` and ``train`` folders hold the scalars of
    :class:`~lbkeras.callbacks.MetricsLogger`: the dashboard then compares runs by
    their final eval accuracy and loss (:data:`HPARAMS_METRICS`). Uses
    ``tensorboard.plugins.hparams.api`` as is: lbkeras only chooses what matters at
    large batch.

    Args:
        log_dir: the run's log folder (``model_dir/logs``).
        hparams: name -> bool, int, float or str (anything else is logged as its str).
    """

    def __init__(self, log_dir: str, hparams: dict[str, Any]) -> None:
        super().__init__()
        self.log_dir = log_dir
        self.hparams = {
            k: (v if isinstance(v, (bool, int, float, str)) else str(v)) for k, v in hparams.items()
        }

    def on_train_begin(self, logs=None):
        writer = tf.summary.create_file_writer(self.log_dir)
        with writer.as_default():
            hp.hparams_config(
                hparams=[hp.HParam(name) for name in self.hparams],
                metrics=[
                    hp.Metric(tag, group=group, display_name=f"{group} {tag}")
                    for tag, group in HPARAMS_METRICS
                ],
            )
            hp.hparams(self.hparams)
        writer.close()
