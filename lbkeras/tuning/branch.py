"""Worker: a trainer run of the branched critical-batch measurement
(``python -m lbkeras.tuning.branch CONFIG ANSWER``).

A normal :func:`lbkeras.training.run` of the config, with what the job file
``JOB_FILE`` in the config's ``model_dir`` asks for (written by
:mod:`lbkeras.tuning.critical_batch`):

* ``{"snapshots": {"LOOP": FOLDER, ...}}`` (the base run): after loop ``LOOP`` the
  training state is saved into ``FOLDER`` as a trainer backup (:class:`Snapshots`), so
  that a branch resumes from it;
* ``{"stop_step": S}`` (a branch): training stops after optimizer step ``S``
  (:class:`StopAfterStep`), and the trainer evaluates and reports there.

The answer is the run's ``results.json``. Started by
:func:`lbkeras.tuning.process.run_config`; see there for the protocol and exit statuses.

Example:
    >>> model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    >>> model.compile("sgd", "mse")
    >>> history = model.fit(np.ones((8, 2)), np.ones((8, 1)), batch_size=2, epochs=3,
    ...                     verbose=0, callbacks=[StopAfterStep(6)])
    >>> int(model.optimizer.iterations.numpy()), history.epoch  # 4 steps an epoch
    (6, [0, 1])
"""

from __future__ import annotations

import json
import os
from typing import Any

import keras

from lbkeras import callbacks
from lbkeras.training.config import ExperimentConfig

JOB_FILE = "branch_job.json"
WORKER = "lbkeras.tuning.branch"


class Snapshots(keras.callbacks.Callback):
    """Saves the training state after chosen loops (Keras epochs), each into its own
    folder as a :class:`lbkeras.callbacks.Backup` of that loop: a run given a copy of the
    folder as its ``backup/`` resumes there."""

    def __init__(self, folders: dict[int, str]) -> None:
        super().__init__()
        self.folders = dict(folders)

    def on_epoch_end(self, epoch, logs=None):
        folder = self.folders.get(epoch + 1)
        if folder is not None:
            backup = callbacks.Backup(folder, every_seconds=0, keep=1)
            backup.set_model(self.model)
            backup.on_epoch_end(epoch, logs)


class StopAfterStep(keras.callbacks.Callback):
    """Stops ``fit`` once the optimizer has taken ``stop_step`` steps in all."""

    def __init__(self, stop_step: int) -> None:
        super().__init__()
        self.stop_step = stop_step

    def on_train_batch_end(self, batch, logs=None):
        if int(self.model.optimizer.iterations.numpy()) >= self.stop_step:
            self.model.stop_training = True


def train(config: ExperimentConfig) -> dict[str, Any]:
    """Trains ``config`` with the callbacks its job file asks for; returns its results."""
    from lbkeras.training import run

    with open(os.path.join(config.model_dir, JOB_FILE)) as f:
        job = json.load(f)
    extra: list[keras.callbacks.Callback] = []
    if job.get("snapshots"):
        extra.append(Snapshots({int(loop): path for loop, path in job["snapshots"].items()}))
    if job.get("stop_step"):
        extra.append(StopAfterStep(int(job["stop_step"])))
    return run(config, extra)


if __name__ == "__main__":
    from lbkeras.tuning.process import worker_main

    worker_main(train)
