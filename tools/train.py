"""lbkeras-train: train a model at a large global batch from the command line.

Every setting of :class:`lbkeras.training.ExperimentConfig` is a flag of the same
name, default and help (generated from the config: ``--helpfull`` lists them). Recipes
are absl flagfiles (``--flagfile=configs/NAME.cfg``), overridable by later flags; a
run's ``config.json`` is one too (``--config=run/config.json``, overridable the same
way). With no flags it trains the default experiment: MNIST-1D at global batch 2048
with LARS, about a minute on a 2-core CPU.

    lbkeras-train --model_dir=/tmp/run1
    lbkeras-train --flagfile=configs/goyal_resnet50_imagenet_8k.cfg --data_dir=... --model_dir=...
    lbkeras-train --config=/tmp/run1/config.json --model_dir=/tmp/run2 --seed=1
    lbkeras-train --flagfile=configs/mnist1d_lamb_8k.cfg --dry_run --model_dir=/tmp/look

Bad input (an unknown name, an impossible batch split, missing data, a flag that does
not parse) prints one line naming the problem and exits with status 2; a NaN loss
exits with status 3.
"""

from __future__ import annotations

import logging
import os
import sys

from absl import app, flags

from .common import FLAGS, experiment_config, fail, flags_parser, no_arguments

flags.DEFINE_bool(
    "dry_run",
    False,
    "Resolve and print everything (strategy, replicas, steps, passes, warmup, learning "
    "rates), plot the schedule into --model_dir/learning_rate.png, and train nothing.",
)

EXIT_NON_FINITE = 3
PROGRAM = "lbkeras-train"


def main(argv: list[str]) -> int:
    if (bad := no_arguments(PROGRAM, argv)) is not None:
        return bad
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    logging.getLogger().setLevel(logging.INFO)
    from lbkeras.callbacks import NonFiniteLossError
    from lbkeras.training import dry_run, run

    try:
        config = experiment_config()
        if FLAGS.dry_run:
            _print_dry_run(dry_run(config))
            return 0
        results = run(config)
    except (ValueError, TypeError, FileNotFoundError) as error:
        return fail(PROGRAM, f"error: {error}")
    except NonFiniteLossError as error:
        print(f"{PROGRAM}: {error}", file=sys.stderr)
        return EXIT_NON_FINITE
    print(
        f"test accuracy {results['eval_accuracy']:.4f}, test loss {results['eval_loss']:.4f} "
        f"after {results['steps']} steps ({results['passes']:.1f} passes) at global batch "
        f"{results['global_batch_size']} (peak learning rate {results['peak_learning_rate']:g}), "
        f"{results['examples_per_second']:.0f} examples/s, {results['wall_seconds']:.0f} s; "
        f"results in {config.model_dir}"
    )
    return 0


def _print_dry_run(summary: dict) -> None:
    width = max(len(key) for key in summary)
    for key, value in summary.items():
        shown = f"{value:.6g}" if isinstance(value, float) else value
        print(f"{key:<{width}}  {shown}")


_parse_flags = flags_parser(PROGRAM)


def run_main() -> None:
    """Console-script entry point (``lbkeras-train``)."""
    app.run(main, flags_parser=_parse_flags)


if __name__ == "__main__":
    run_main()
