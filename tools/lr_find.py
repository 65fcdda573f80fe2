"""lbkeras-lr-find: the learning-rate range test of an experiment, from the command line.

Builds the model, optimizer and input exactly as ``lbkeras-train`` would for the same
flags (every setting of :class:`lbkeras.training.ExperimentConfig` is a flag, and
``--flagfile``/``--config`` work as there), raises the learning rate exponentially from
``--min_lr`` to ``--max_lr`` over at most ``--num_steps`` steps at the global batch, and
prints the suggested rates and the flags to paste into ``lbkeras-train``. It writes
``lr_find.json``, ``lr_find.csv`` and ``lr_find.png`` into ``--model_dir``.

    lbkeras-lr-find --model_dir=/tmp/lr
    lbkeras-lr-find --flagfile=configs/mnist1d_lamb_8k.cfg --model_dir=/tmp/lr8k
    lbkeras-lr-find --config=/tmp/run1/config.json --optimizer=lamb --model_dir=/tmp/lr2
    lbkeras-lr-find --model_dir=/tmp/lr --min_lr=1e-4 --max_lr=30 --num_steps=200

Bad input (an unknown name, min_lr not below max_lr, a flag that does not parse, missing
data) prints one line naming the problem, writes nothing and exits with status 2.
"""

from __future__ import annotations

import os

from absl import app

from lbkeras.training.config_flags import config_from_flags, define_flags
from lbkeras.tuning.lr_find import (
    CSV_FILE,
    JSON_FILE,
    PLOT_FILE,
    RangeTestSettings,
    lr_find,
    paste_flags,
)

from .common import FLAGS, experiment_config, fail, flags_parser, no_arguments

define_flags(RangeTestSettings, FLAGS)

PROGRAM = "lbkeras-lr-find"


def main(argv: list[str]) -> int:
    if (bad := no_arguments(PROGRAM, argv)) is not None:
        return bad
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    try:
        settings = config_from_flags(RangeTestSettings, FLAGS)
        config = experiment_config()
        test = lr_find(config, settings, config.model_dir)
    except (ValueError, TypeError, FileNotFoundError) as error:
        return fail(PROGRAM, f"error: {error}")
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


_parse_flags = flags_parser(PROGRAM)


def run_main() -> None:
    """Console-script entry point (``lbkeras-lr-find``)."""
    app.run(main, flags_parser=_parse_flags)


if __name__ == "__main__":
    run_main()
