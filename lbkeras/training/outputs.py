"""Everything a run reads from and writes to its model_dir, and who may write what.

The chief writes the run's files (``config.json``, ``logs/``, ``model.keras``,
``results.json``); every worker keeps its own backups and saves its own model (TF's
multi-worker guide asks all workers to save), the others under ``workers/TYPE-ID/``.
This class is the one place that knows it: the runner calls its methods on every
worker and they do the right thing. Files that must never be half-written are written
under a temporary name and renamed (:mod:`lbkeras.atomic`).

Example:
    >>> import tempfile
    >>> from lbkeras.distribute import WorkerRole
    >>> folder = tempfile.mkdtemp()
    >>> Outputs(folder, WorkerRole("worker", 1, num_workers=2)).write_config(ExperimentConfig())
    >>> os.listdir(folder)  # only the chief writes the run's files
    []
    >>> chief = Outputs(folder, WorkerRole("worker", 0, num_workers=2))
    >>> chief.write_config(ExperimentConfig())
    >>> os.listdir(folder), chief.backup_dir == os.path.join(folder, "backup")
    (['config.json'], True)
"""

from __future__ import annotations

import json
import os
from typing import Any

import keras

from lbkeras import callbacks
from lbkeras.atomic import save_atomically, write_atomically
from lbkeras.distribute import WorkerRole
from lbkeras.training.config import RUN_BEHAVIOUR, ExperimentConfig


def check_model_dir(model_dir: str) -> None:
    """Refuses a model_dir that cannot be a folder to write in (checked before any write).

    Raises:
        ValueError: ``model_dir`` or a folder above it is a file, or is not writable.
    """
    path = os.path.abspath(model_dir)
    while not os.path.exists(path):
        path = os.path.dirname(path)
    if not os.path.isdir(path):
        where = "" if path == os.path.abspath(model_dir) else f" ({path} is)"
        raise ValueError(
            f"model_dir {model_dir} is a file{where}, not a folder: give a new or existing "
            "folder for --model_dir"
        )
    if not os.access(path, os.W_OK | os.X_OK):
        raise ValueError(f"model_dir {model_dir}: {path} is not writable; choose another folder")


class Outputs:
    """The files of one run in ``model_dir``, as this worker (``role``) sees them."""

    def __init__(self, model_dir: str, role: WorkerRole) -> None:
        self.model_dir = model_dir
        self.is_chief = role.is_chief
        own = (
            model_dir
            if role.is_chief
            else os.path.join(model_dir, "workers", f"{role.task_type}-{role.task_id}")
        )
        self.config_path = os.path.join(model_dir, "config.json")
        self.results_path = os.path.join(model_dir, "results.json")
        self.log_dir = os.path.join(model_dir, "logs")
        self.model_path = os.path.join(own, "model.keras")
        self.backup_dir = os.path.join(own, "backup")

    def check_same_run(self, config: ExperimentConfig) -> None:
        """Refuses to mix two different experiments in one model_dir. A setting the
        folder's config lacks (written by an older lbkeras) counts as its default: a new
        setting's default is the behaviour from before it existed."""
        if not os.path.exists(self.config_path):
            return
        with open(self.config_path) as f:
            previous = {**ExperimentConfig().to_dict(), **json.load(f)}
        current = config.to_dict()
        changed = sorted(
            k for k in current if k not in RUN_BEHAVIOUR and previous.get(k) != current[k]
        )
        if changed:
            raise ValueError(
                f"model_dir {self.model_dir} holds a run with a different config "
                f"({', '.join(changed)}); use a new --model_dir, or the same flags to resume"
            )

    def write_config(self, config: ExperimentConfig) -> None:
        if self.is_chief:
            os.makedirs(self.model_dir, exist_ok=True)
            write_atomically(self.config_path, lambda f: f.write(config.to_json()))

    def writers(self) -> callbacks.SummaryWriters | None:
        """The TensorBoard writers of the run (None on workers that do not log)."""
        return callbacks.SummaryWriters(self.log_dir) if self.is_chief else None

    def latest_backup(self) -> int:
        return callbacks.latest_backup(self.backup_dir)

    def restore(self, model: keras.Model, loop: int) -> None:
        callbacks.restore(model, self.backup_dir, loop)

    def backup_record(self, loop: int) -> dict[str, float]:
        """The logs of ``loop`` and the training figures kept with its backup."""
        return callbacks.backup_record(self.backup_dir, loop)

    def complete(self) -> bool:
        """Whether the run's last writes are done: this worker's model and the results."""
        return os.path.exists(self.model_path) and os.path.exists(self.results_path)

    def read_results(self) -> dict[str, Any]:
        with open(self.results_path) as f:
            return json.load(f)

    def save_model(self, model: keras.Model) -> None:
        os.makedirs(os.path.dirname(self.model_path), exist_ok=True)
        save_atomically(self.model_path, model.save)

    def write_results(self, results: dict[str, Any]) -> None:
        if self.is_chief:
            write_atomically(
                self.results_path, lambda f: json.dump(results, f, indent=2, sort_keys=True)
            )
