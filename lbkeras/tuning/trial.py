"""Worker: one full trainer run of a config (``python -m lbkeras.tuning.trial CONFIG ANSWER``).

The answer is the run's ``results.json`` (the trainer writes it too, in the config's
``model_dir``). Started by :func:`lbkeras.tuning.process.run_config`; see there for the
protocol and exit statuses.
"""

from __future__ import annotations

from typing import Any

from lbkeras.training.config import ExperimentConfig


def train(config: ExperimentConfig) -> dict[str, Any]:
    """Trains ``config`` with :func:`lbkeras.training.run`; returns its results."""
    from lbkeras.training import run

    return run(config)


if __name__ == "__main__":
    from lbkeras.tuning.process import worker_main

    worker_main(train)
