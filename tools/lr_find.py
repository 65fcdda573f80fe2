"""lbkeras-lr-find: the learning-rate range test of an experiment, from the command line.

Builds the model, optimizer and input exactly as ``lbkeras-train`` would for the same
flags (every setting of :class:`lbkeras.training.ExperimentConfig` is a flag, and
``--flagfile``/``--config`` work as there), raises the learning rate exponentially from
``--min_lr`` to ``--max_lr`` over at most ``--num_steps`` steps at the global batch (the
trainer's schedule and length are not used), and prints the suggested rates and the flags
to paste into ``lbkeras-train``. It writes ``lr_find.json``, ``lr_find.csv`` and
``lr_find.png`` into ``--model_dir`` (default: a new ``runs/DATE-TIME``).

    lbkeras-lr-find
    lbkeras-lr-find --flagfile=configs/mnist1d_lamb_8k.cfg --model_dir=/tmp/lr8k
    lbkeras-lr-find --config=/tmp/run1/config.json --optimizer=lamb --model_dir=/tmp/lr2
    lbkeras-lr-find --model_dir=/tmp/lr --min_lr=1e-4 --max_lr=30 --num_steps=200

Bad input (an unknown name, min_lr not below max_lr, a flag that does not parse, missing
data) prints one line naming the problem, writes nothing and exits with status 2.
"""

from __future__ import annotations

import logging

from absl import flags

from lbkeras.training.config_flags import config_from_flags, define_flags
from lbkeras.tuning.lr_find import (
    CSV_FILE,
    JSON_FILE,
    PLOT_FILE,
    RangeTestSettings,
    lr_find,
    paste_flags,
)

from .common import define_experiment_flags, experiment_config, run_tool

FLAGS = flags.FlagValues()
define_flags(RangeTestSettings, FLAGS, group="range test")
define_experiment_flags(FLAGS)

PROGRAM = "lbkeras-lr-find"


def main() -> int:
    settings = config_from_flags(RangeTestSettings, FLAGS)
    config = experiment_config(FLAGS)
    test = lr_find(config, settings, config.model_dir)
    stop = (
        f"stopped at {test.diverged_at:.3g}, where the loss blew up"
        if test.diverged_at is not None
        else "the loss never blew up: raise --max_lr to see where it does"
    )
    print(
        f"learning-rate range test of {config.model} on {config.dataset} ({config.optimizer}) "
        f"at global batch {config.global_batch_size}: {len(test.lrs)} steps from "
        f"{test.lrs[0]:.3g} to {test.lrs[-1]:.3g}; {stop}"
    )
    for name, lr in test.suggestions.items():
        print(f"  {name:<12} {lr:.3g}" + ("  (recommended)" if name == test.recommended else ""))
    print(f"flags to paste: {' '.join(paste_flags(test, config))}")
    files = ", ".join((JSON_FILE, CSV_FILE, PLOT_FILE))
    print(f"{files} in {config.model_dir}")
    return 0


def run_main() -> None:
    """Console-script entry point (``lbkeras-lr-find``). Log level WARNING: the trainer's
    plan line (its schedule and length) is not what the range test runs."""
    run_tool(PROGRAM, main, FLAGS, __doc__, log_level=logging.WARNING)


if __name__ == "__main__":
    run_main()
