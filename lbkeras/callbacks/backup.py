"""Backups of the training state at epoch ends, every so many seconds, for exact resumption."""

from __future__ import annotations

import glob
import json
import os
import re
import time
from collections.abc import Callable
from typing import Any

import keras

from lbkeras.atomic import save_atomically, write_atomically
from lbkeras.distribute import across_workers

_NAME = "epoch-{:06d}.weights.h5"
_RECORD = "epoch-{:06d}.json"
#: The key of ``state()`` in a backup's record.
STATE_KEY = "state"
_PATTERN = re.compile(r"epoch-(\d{6})\.weights\.h5$")
_EPOCH = re.compile(r"epoch-(\d{6})\.")  # a backup's files: its weights and its record


class Backup(keras.callbacks.Callback):
    """Saves weights and optimizer state at epoch ends, at most every ``every_seconds``.

    Keras's ``BackupAndRestore`` saves after every epoch, or every N batches but then
    restarts the interrupted epoch from its first batch on weights that have already
    seen part of it. This callback saves at the end of an epoch only (so a resumed run
    continues exactly where the saved one was) and only when ``every_seconds`` have
    passed since the last save, so short epochs do not pay for a save each; the last
    epoch is always saved, which tells a rerun that training had finished. Files are
    written under a temporary name and renamed, and the newest ``keep`` are kept, so a
    run killed while saving still has its previous backup; under multi-worker training
    each worker keeps its own, all back up the same epochs (a save is due when it is on
    any worker's clock) and :func:`latest_backup` lets them agree on one.

    Beside the weights, each backup keeps a record (:func:`backup_record`): the epoch's
    logs (its loss and metrics, eval ones included) and ``figures()``. A run killed after
    its last backup has nothing left to train when restarted, but can still report how
    its training went.

    Args:
        backup_dir: the folder of the backups (created if needed).
        every_seconds: the least time between two saves; 0 saves after every epoch.
        keep: how many backups to keep (>= 2 for multi-worker training: a worker killed
            while saving has the one before).
        figures: called at every save; more numbers for the record (the trainer keeps
            its throughput and training time so far).
        state: called at every save; a JSON object kept under ``"state"`` in the record:
            what a resumed run needs besides the weights (the trainer keeps an adaptive
            batch schedule's decisions there).

    Example:
        >>> import tempfile
        >>> backup_dir = tempfile.mkdtemp()
        >>> def make_model():
        ...     model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
        ...     model.compile(keras.optimizers.SGD(0.1, momentum=0.9), "mse")
        ...     return model
        >>> model, x, y = make_model(), np.ones((8, 2)), np.ones((8, 1))
        >>> _ = model.fit(x, y, epochs=3, verbose=0,
        ...               callbacks=[Backup(backup_dir, every_seconds=0)])
        >>> backed_up_epochs(backup_dir)  # the newest two
        [2, 3]
        >>> sorted(backup_record(backup_dir, 3))  # the logs of epoch 3
        ['loss']
        >>> resumed = make_model()
        >>> resumed.build((None, 2))
        >>> restore(resumed, backup_dir, latest_backup(backup_dir))
        >>> int(resumed.optimizer.iterations.numpy())  # with the optimizer state
        3
        >>> _ = resumed.fit(x, y, initial_epoch=3, epochs=4, verbose=0)
    """

    def __init__(
        self,
        backup_dir: str,
        every_seconds: float = 60.0,
        keep: int = 2,
        figures: Callable[[], dict[str, float]] | None = None,
        state: Callable[[], dict[str, Any]] | None = None,
    ) -> None:
        super().__init__()
        if every_seconds < 0:
            raise ValueError(f"every_seconds must be >= 0, got {every_seconds}")
        if keep < 1:
            raise ValueError(f"keep must be >= 1, got {keep}")
        self.backup_dir = backup_dir
        self.every_seconds = every_seconds
        self.keep = keep
        self.figures = figures
        self.state = state
        self._last_save = 0.0
        self._last_epoch = None
        self._last_logs = {}
        self._saved_epoch = None

    def on_train_begin(self, logs=None):
        self._last_save = time.monotonic()

    def on_epoch_end(self, epoch, logs=None):
        self._last_epoch = epoch + 1
        self._last_logs = dict(logs or {})
        if self._due():
            self.save(epoch + 1)

    def on_train_end(self, logs=None):
        if self._last_epoch is not None and self._saved_epoch != self._last_epoch:
            self.save(self._last_epoch)

    def _due(self) -> bool:
        """Whether ``every_seconds`` have passed since the last save, on any worker's clock.

        Workers start their clocks apart; deciding alone, they could back up different
        epochs (one the odd ones, another the even ones), leaving a restart no epoch
        whose backup all of them have. Every worker votes at every epoch end, whatever
        its ``every_seconds``, so that all run the same collectives.
        """
        due = time.monotonic() - self._last_save >= self.every_seconds
        return max(across_workers(self.model.distribute_strategy, int(due))) > 0

    def save(self, epoch: int) -> None:
        """Saves the state after ``epoch`` epochs, then removes all but the newest backups."""
        os.makedirs(self.backup_dir, exist_ok=True)
        record = _numbers({**self._last_logs, **(self.figures() if self.figures else {})})
        if self.state is not None:
            record[STATE_KEY] = self.state()
        # The record first: a backup is complete once its weights are there.
        write_atomically(
            os.path.join(self.backup_dir, _RECORD.format(epoch)),
            lambda f: json.dump(record, f, indent=2, sort_keys=True),
        )
        save_atomically(os.path.join(self.backup_dir, _NAME.format(epoch)), self.model.save_weights)
        kept = backed_up_epochs(self.backup_dir)[-self.keep :]
        for path in glob.glob(os.path.join(glob.escape(self.backup_dir), "epoch-*")):
            match = _EPOCH.match(os.path.basename(path))
            if match and int(match.group(1)) not in kept:
                os.remove(path)
        self._saved_epoch = epoch
        self._last_save = time.monotonic()


def backed_up_epochs(backup_dir: str) -> list[int]:
    """The epochs with a complete backup in ``backup_dir``, oldest first."""
    epochs = []
    for path in glob.glob(os.path.join(glob.escape(backup_dir), "epoch-*.weights.h5")):
        match = _PATTERN.search(os.path.basename(path))
        if match:
            epochs.append(int(match.group(1)))
    return sorted(epochs)


def backup_record(backup_dir: str, epoch: int) -> dict[str, Any]:
    """The record kept with the backup of ``epoch``: the epoch's logs, the figures
    :class:`Backup` was given (numbers) and its state (under ``"state"``, if it was given
    one); empty if there is none."""
    path = os.path.join(backup_dir, _RECORD.format(epoch))
    if not os.path.exists(path):
        return {}
    with open(path) as f:
        return json.load(f)


def latest_backup(backup_dir: str) -> int:
    """The newest backed-up epoch in ``backup_dir``, 0 if there is none."""
    epochs = backed_up_epochs(backup_dir)
    return epochs[-1] if epochs else 0


def restore(model: keras.Model, backup_dir: str, epoch: int) -> None:
    """Loads the backup of ``epoch`` into ``model`` (built) and its optimizer."""
    if model.optimizer is not None and not model.optimizer.built:
        model.optimizer.build(model.trainable_variables)
    model.load_weights(os.path.join(backup_dir, _NAME.format(epoch)))


def _numbers(record: dict) -> dict[str, float]:
    """The numbers of ``record`` (Python, NumPy or scalar tensors) as floats."""
    return {
        key: float(value)
        for key, value in record.items()
        if isinstance(value, (int, float)) or getattr(value, "shape", None) == ()
    }
