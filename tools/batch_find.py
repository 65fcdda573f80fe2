"""lbkeras-batch-find: the largest global batch that fits, and where throughput stops rising.

Builds the model, optimizer and input exactly as ``lbkeras-train`` would for the same
flags (every setting of :class:`lbkeras.training.ExperimentConfig` is a flag, and
``--flagfile``/``--config`` work as there; ``--global_batch_size`` is not used), and
times a few training steps at global batches from ``--start``, doubling until one does
not fit or ``--max_batch_size`` is reached, then bisecting down to ``--multiple_of``.
Each size runs in a fresh process (``--memory_limit_mb`` caps its address space).
Prints a table of the sizes tried, the recommended maximum (after ``--margin`` when a
size did not fit; the largest size tried when every size fit) and the chosen size (the
smallest within ``--throughput_tolerance`` of the best throughput) as the flag to paste
into ``lbkeras-train``. It writes
``batch_find.json``, ``batch_find.csv``, ``batch_find.png`` and ``trials/`` into
``--model_dir`` (default: a new ``runs/DATE-TIME``).

    lbkeras-batch-find
    lbkeras-batch-find --start=256 --max_batch_size=16000 --steps=5 --model_dir=/tmp/bf
    lbkeras-batch-find --flagfile=configs/mnist1d_lamb_8k.cfg --memory_limit_mb=4096 \
        --model_dir=/tmp/bf
    lbkeras-batch-find --config=/tmp/run1/config.json --multiple_of=64 --model_dir=/tmp/bf2

Bad input (an unknown name, --start above --max_batch_size, a flag that does not parse,
missing data) prints one line naming the problem, writes nothing and exits with status
2; a probe that crashes for a reason other than memory exits with status 1; no size
fitting (not even --start) exits with status 3.
"""

from __future__ import annotations

import os
import sys

from absl import flags

from lbkeras.training.config_flags import config_from_flags, define_flags
from lbkeras.tuning.batch_finder import BatchSearchSettings, ProbeError, find_batch_size
from lbkeras.tuning.batch_report import CSV_FILE, JSON_FILE, PLOT_FILE, describe, format_table

from .common import define_experiment_flags, experiment_config, run_tool

FLAGS = flags.FlagValues()
define_flags(BatchSearchSettings, FLAGS, group="batch search")
define_experiment_flags(FLAGS)

PROGRAM = "lbkeras-batch-find"
EXIT_CRASHED = 1
EXIT_NOTHING_FITS = 3


def main() -> int:
    settings = config_from_flags(BatchSearchSettings, FLAGS)
    config = experiment_config(FLAGS)
    try:
        search = find_batch_size(
            config,
            settings,
            config.model_dir,
            on_trial=lambda trial: print(describe(trial), flush=True),
        )
    except ProbeError as error:
        print(f"{PROGRAM}: {error}", file=sys.stderr)
        return EXIT_CRASHED
    print(
        f"batch sizes of {config.model} on {config.dataset} ({config.optimizer}), "
        f"{settings.steps} timed steps each:"
    )
    print(format_table(search.trials, search.recommended_max, search.chosen))
    files = ", ".join(os.path.join(config.model_dir, f) for f in (JSON_FILE, CSV_FILE, PLOT_FILE))
    if search.largest_fitting is None:
        print(f"not even --start={settings.start} fits: lower --start; report in {files}")
        return EXIT_NOTHING_FITS
    largest = search.largest_fitting
    if any(not trial.fits for trial in search.trials):
        limit = (
            f"the largest that fits is {largest}; recommended maximum {search.recommended_max} "
            f"(the largest tried at most (1 - margin {settings.margin:g}) x {largest} = "
            f"{(1 - settings.margin) * largest:g})"
        )
    else:
        bound = (
            f"the {search.capped_at} training examples cap the search"
            if search.capped_at is not None
            else "raise --max_batch_size to find the limit"
        )
        limit = (
            f"every size fit up to {largest} ({bound}); recommended maximum "
            f"{search.recommended_max} (no size ran out of memory, so no margin)"
        )
    print(
        f"{limit}; throughput stops rising at {search.chosen} (within "
        f"{settings.throughput_tolerance:.0%} of the best)"
    )
    print(f"  --global_batch_size={search.chosen}")
    print(f"report in {files}")
    return 0


def run_main() -> None:
    """Console-script entry point (``lbkeras-batch-find``)."""
    run_tool(PROGRAM, main, FLAGS, __doc__)


if __name__ == "__main__":
    run_main()
