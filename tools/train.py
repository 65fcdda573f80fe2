"""lbkeras-train: train a model at a large global batch from the command line.

Every setting of :class:`lbkeras.training.ExperimentConfig` is a flag of the same
name, default and help (generated from the config: ``--help`` lists them by topic). Recipes
are absl flagfiles (``--flagfile=configs/NAME.cfg``), overridable by later flags; a
run's ``config.json`` is one too (``--config=run/config.json``, overridable the same
way). With no flags it trains the default experiment: MNIST-1D at global batch 2048
with LARS, about a minute on a 2-core CPU, into a new folder ``runs/DATE-TIME``; at the
end it prints where the logs, the model and ``results.json`` are, and the TensorBoard
command that shows the run.

    lbkeras-train
    lbkeras-train --model_dir=/tmp/run1
    lbkeras-train --flagfile=configs/goyal_resnet50_imagenet_8k.cfg --data_dir=... --model_dir=...
    lbkeras-train --config=/tmp/run1/config.json --model_dir=/tmp/run2 --seed=1
    lbkeras-train --flagfile=configs/mnist1d_lamb_8k.cfg --dry_run --model_dir=/tmp/look

Bad input (an unknown name, an impossible batch split, missing data, a flag that does
not parse) prints one line naming the problem and exits with status 2; a NaN loss, or
one that diverged (above --divergence_factor x ln(num_classes)), exits with status 3.
"""

from __future__ import annotations

import shlex
import sys

from absl import flags

from lbkeras.callbacks import NonFiniteLossError
from lbkeras.distribute import WorkerRole
from lbkeras.training import dry_run, run
from lbkeras.training.config import OUTPUTS
from lbkeras.training.outputs import Outputs

from .common import define_experiment_flags, experiment_config, run_tool

FLAGS = flags.FlagValues()
define_experiment_flags(FLAGS)
flags.DEFINE_bool(
    "dry_run",
    False,
    "Resolve and print everything (strategy, replicas, steps, passes, warmup, learning "
    "rates), plot the schedule into --model_dir/learning_rate.png, and train nothing.",
    flag_values=FLAGS,
    module_name=OUTPUTS,
)

EXIT_NON_FINITE = 3
PROGRAM = "lbkeras-train"


def main() -> int:
    config = experiment_config(FLAGS)
    if FLAGS.dry_run:
        _print_dry_run(dry_run(config))
        return 0
    try:
        results = run(config)
    except NonFiniteLossError as error:
        print(f"{PROGRAM}: {error}", file=sys.stderr)
        return EXIT_NON_FINITE
    batches = [stage["batch_size"] for stage in results.get("batch_history", [])]
    batch = " -> ".join(map(str, batches)) if batches else results["global_batch_size"]
    print(
        f"test accuracy {results['eval_accuracy']:.4f}, test loss {results['eval_loss']:.4f} "
        f"after {results['steps']} steps ({results['passes']:.1f} passes) at global batch "
        f"{batch} (peak learning rate {results['peak_learning_rate']:g}), "
        f"{results['examples_per_second']:.0f} examples/s, {results['wall_seconds']:.0f} s"
    )
    _print_where(config.model_dir)
    return 0


def _print_where(model_dir: str) -> None:
    """Where the run's files are, and the command that shows its curves."""
    outputs = Outputs(model_dir, WorkerRole(None, 0, 1))
    for what, path in (
        ("logs", outputs.log_dir),
        ("model", outputs.model_path),
        ("results", outputs.results_path),
    ):
        print(f"{what + ':':<9}{path}")
    print(f"see the curves: tensorboard --logdir {shlex.quote(outputs.log_dir)}")


def _print_dry_run(summary: dict) -> None:
    width = max(len(key) for key in summary)
    for key, value in summary.items():
        shown = f"{value:.6g}" if isinstance(value, float) else value
        print(f"{key:<{width}}  {shown}")


def run_main() -> None:
    """Console-script entry point (``lbkeras-train``)."""
    run_tool(PROGRAM, main, FLAGS, __doc__)


if __name__ == "__main__":
    run_main()
