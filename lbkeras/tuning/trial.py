"""Worker: one full trainer run of a config (``python -m lbkeras.tuning.trial CONFIG ANSWER``).

The answer is the run's ``results.json`` (the trainer writes it too, in the config's
``model_dir``). Started by :func:`lbkeras.tuning.process.run_config`; see there for the
protocol and exit statuses. :func:`run_once` is the caller's side, for benchmarks that
train many configs one after another and are rerun to resume.
"""

from __future__ import annotations

import json
import os
from typing import Any

from lbkeras.training.config import ExperimentConfig

#: This module, as :func:`lbkeras.tuning.process.run_config` starts it.
WORKER = "lbkeras.tuning.trial"


def run_once(config: ExperimentConfig) -> dict[str, Any]:
    """The results of ``config``: read back when its ``model_dir`` holds a finished run of
    exactly this config, else trained in a process of its own (resuming its backup).

    Raises:
        RuntimeError: the run failed (the worker's one-line error).
    """
    from lbkeras.tuning import process

    results = os.path.join(config.model_dir, "results.json")
    if os.path.exists(results):
        with open(os.path.join(config.model_dir, "config.json")) as f:
            same = json.load(f) == json.loads(config.to_json())
        if same:
            with open(results) as f:
                return json.load(f)
    outcome = process.run_config(WORKER, config, os.path.join(config.model_dir, "process"))
    if outcome.answer is None:
        raise RuntimeError(f"{config.model_dir}: {outcome.message()}")
    return outcome.answer


def train(config: ExperimentConfig) -> dict[str, Any]:
    """Trains ``config`` with :func:`lbkeras.training.run`; returns its results."""
    from lbkeras.training import run

    return run(config)


if __name__ == "__main__":
    from lbkeras.tuning.process import worker_main

    worker_main(train)
