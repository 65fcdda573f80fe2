"""The run's hyper-parameters in TensorBoard's HParams dashboard."""

from __future__ import annotations

import os
from typing import Any

import keras
import tensorflow as tf
from tensorboard.plugins.hparams import api as hp


class HParamsLogger(keras.callbacks.Callback):
    """Writes ``hparams`` once, at the start of training, under ``log_dir/train``.

    TensorBoard's HParams plugin reads them there; the same dictionary goes to the
    resolved ``config.json``. Uses ``tensorboard.plugins.hparams.api`` as is: lbkeras
    only chooses which config fields matter at large batch.
    """

    def __init__(self, log_dir: str, hparams: dict[str, Any]) -> None:
        super().__init__()
        self.log_dir = os.path.join(log_dir, "train")
        self.hparams = {
            k: (v if isinstance(v, (bool, int, float, str)) else str(v)) for k, v in hparams.items()
        }

    def on_train_begin(self, logs=None):
        writer = tf.summary.create_file_writer(self.log_dir)
        with writer.as_default():
            hp.hparams(self.hparams)
        writer.close()
