"""Time to result: the wall time each recipe takes to reach the baseline's accuracy, side by
side on one machine, as a ratio to the baseline's own.

Every recipe (the baseline first) trains once per seed, one run after another in this
invocation, each in a process of its own (:func:`lbkeras.tuning.trial.run_once`; finished
runs in ``--work_dir`` are read back, so rerun to resume, but then they were not side by
side). The target is the baseline's final test accuracy (mean over the seeds) less
``--within`` points. A run's time to result is the wall time from the start of its
training to the first evaluation (one per pass) at or above the target: the eval events'
wall times, counted from the start (the run's ``wall_seconds`` back from its last loop's
end), so compilation and the evaluations are in it, as a user waits for them. The ratio
is the recipe's mean time over the baseline's; "not reached" where no evaluation of a
seed reached the target.

    python benchmarks/time_to_result.py --work_dir=/tmp/ttr
    python benchmarks/time_to_result.py --recipes=mnist1d_nesterov_64,mnist1d_lamb_2k --seeds=3

Not a test: the baseline alone trains for about two minutes on 2 cores.
"""

from __future__ import annotations

import dataclasses
import os
import statistics
import sys
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from absl import app, flags  # noqa: E402

from lbkeras.monitoring.events import read_scalar_events  # noqa: E402
from lbkeras.tuning import trial  # noqa: E402
from tools.common import read_flagfile, recipe_path, seed_run  # noqa: E402

FLAGS = flags.FLAGS
flags.DEFINE_list(
    "recipes",
    ["mnist1d_nesterov_64", "mnist1d_momentum_256", "mnist1d_lamb_2k", "mnist1d_lamb_2k_to_4k"],
    "Recipe names or flagfiles; the first is the baseline.",
)
flags.DEFINE_integer("seeds", 1, "Seeds per recipe (0, 1, ...).")
flags.DEFINE_float("within", 0.2, "The target: the baseline's accuracy less this many points.")
flags.DEFINE_string("work_dir", "", "Where the runs go (default: a temporary folder).")
flags.DEFINE_string("data_dir", "", "MNIST-1D cache (default: the recipe's, else the dataset's).")


@dataclasses.dataclass(frozen=True)
class Run:
    """One seed's run: its final accuracy, and its accuracy after each pass with the
    seconds since the start of its training."""

    accuracy: float
    steps: int
    curve: list[tuple[float, int, float]]  # (seconds, step, eval accuracy)

    def to_target(self, target: float) -> tuple[float, int] | None:
        """Seconds and steps to the first evaluation at or above ``target``."""
        reached = [(seconds, step) for seconds, step, value in self.curve if value >= target]
        return reached[0] if reached else None


def train(name: str, seed: int, work_dir: str) -> Run:
    """Trains (or reads back) ``name`` at ``seed``; its curve against wall time."""
    path = recipe_path(name)
    recipe = read_flagfile(path)
    stem = os.path.splitext(os.path.basename(path))[0]
    config = seed_run(recipe, stem, seed, work_dir, FLAGS.data_dir)
    results = trial.run_once(config)
    logs = os.path.join(config.model_dir, "logs")
    accuracy = read_scalar_events(os.path.join(logs, "eval"), "accuracy")
    loss = read_scalar_events(os.path.join(logs, "train"), "loss")
    # The last loop ends where wall_seconds was taken: the start is that much earlier.
    start = loss[max(loss)].wall_time - results["wall_seconds"]
    curve = [(e.wall_time - start, step, e.value) for step, e in sorted(accuracy.items())]
    return Run(results["eval_accuracy"], results["steps"], curve)


def table(runs: dict[str, list[Run]], target: float) -> str:
    lines = [
        "| recipe | final accuracy | steps | steps to target | seconds to target "
        "| time to result (× baseline) |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    first = [run.to_target(target) for run in next(iter(runs.values()))]
    baseline_seconds = None if None in first else statistics.mean(r[0] for r in first)
    for name, seeds in runs.items():
        reached = [run.to_target(target) for run in seeds]
        accuracy = statistics.mean(run.accuracy for run in seeds)
        if None in reached:
            shown = ["not reached"] * 3
        else:
            seconds = statistics.mean(r[0] for r in reached)
            ratio = seconds / baseline_seconds if baseline_seconds else None
            shown = [
                f"{statistics.mean(r[1] for r in reached):.0f}",
                f"{seconds:.0f}",
                "—" if ratio is None else f"{ratio:.2f}",
            ]
        lines.append(f"| {name} | {accuracy:.4f} | {seeds[0].steps} | " + " | ".join(shown) + " |")
    return "\n".join(lines)


def main(argv: list[str]) -> None:
    del argv
    work_dir = FLAGS.work_dir or tempfile.mkdtemp(prefix="time-to-result-")
    runs = {}
    for name in FLAGS.recipes:
        runs[name] = []
        for seed in range(FLAGS.seeds):
            runs[name].append(train(name, seed, work_dir))
            print(f"  {name} seed {seed}: accuracy {runs[name][-1].accuracy:.4f}", flush=True)
    baseline = statistics.mean(run.accuracy for run in runs[FLAGS.recipes[0]])
    target = baseline - FLAGS.within / 100
    print(
        f"target: {target:.4f} (the baseline {FLAGS.recipes[0]}'s {baseline:.4f} less "
        f"{FLAGS.within:g} points)"
    )
    print(table(runs, target))
    print(f"runs in {work_dir}")


if __name__ == "__main__":
    app.run(main)
