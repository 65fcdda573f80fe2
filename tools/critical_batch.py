"""lbkeras-critical-batch: the critical batch measured directly, by branching (Merrill et al. 2025).

Trains the run the experiment flags give (one batch B) once, keeping its state at the
loop ends nearest ``--branch_at`` passes; from each, short branches at ``k x B`` for
each of ``--multipliers`` (the learning rate transferred by ``--lr_scaling``), each
``--branch_passes`` of examples long; the critical batch at a point is the largest
``k x B`` whose final eval loss, and every smaller k's, is at most the k=1 branch's
plus ``--tolerance``. Beside it the base run's gradient noise scale B_simple (logged
with ``--monitor_every_steps`` when a step has 2 or more small-batch gradients:
``--strategy=mirrored --devices=2``). Writes ``critical_batch.json``, ``.md`` and
``.png`` into ``--model_dir``; rerun the same command to resume (finished runs are
skipped).

    lbkeras-critical-batch --flagfile=configs/mnist1d_lars_2k.cfg --strategy=mirrored \\
        --devices=2 --monitor_every_steps=1 --branch_at=1,4,10,18 --multipliers=1,2,4,8 \\
        --branch_passes=2 --tolerance=0.01 --model_dir=/tmp/critical_batch

Bad input (multipliers without 1, points outside the run or on one loop end, a base
run with a batch schedule or gradient accumulation, the trainer's own refusals) prints
one line and exits with status 2, before anything is trained.
"""

from __future__ import annotations

import logging

from absl import flags

from lbkeras.training.config_flags import config_from_flags, define_flags
from lbkeras.tuning.critical_batch import CriticalBatchSettings, measure
from lbkeras.tuning.critical_batch_report import markdown

from .common import define_experiment_flags, experiment_config, print_progress, run_tool

FLAGS = flags.FlagValues()
BRANCHES = "branches"  # the topic of this tool's own flags in --help
define_flags(CriticalBatchSettings, FLAGS, group=BRANCHES)
define_experiment_flags(FLAGS, default_run_dir=False)
FLAGS["model_dir"].help += " Required: the measurement's folder (rerun the command to resume)."

PROGRAM = "lbkeras-critical-batch"


def main() -> int:
    if not FLAGS.model_dir:
        raise ValueError("--model_dir is required: the measurement's folder (rerun to resume)")
    settings = config_from_flags(CriticalBatchSettings, FLAGS)
    summary = measure(experiment_config(FLAGS), settings, FLAGS.model_dir, progress=print_progress)
    print(markdown(summary), end="")
    print(f"critical_batch.json, .md and .png written to {FLAGS.model_dir}")
    return 0


def run_main() -> None:
    """Console-script entry point (``lbkeras-critical-batch``)."""
    run_tool(PROGRAM, main, FLAGS, __doc__, log_level=logging.WARNING)


if __name__ == "__main__":
    run_main()
