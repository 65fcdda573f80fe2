"""Every MNIST-1D (or LM) recipe rerun, measured against what its flagfile claims.

Each recipe (``configs/mnist1d_*.cfg`` by default; ``--configs=lm_adamw_16,...`` for the
language models) trains once per seed, each run a normal trainer run in a process of
its own; the table gives the claimed and measured metric (mean ± standard deviation
over the seeds: test accuracy for classifiers, eval bits per byte for language models,
:data:`lbkeras.training.task.CLAIM_METRICS`), how far each is behind the small-batch
baseline measured in the same invocation (in the metric's own units and direction:
accuracy points, or bits per byte more), and steps and training seconds. With
``--update_claims`` the measured figures are written into the flagfiles' claim lines
(:mod:`lbkeras.training.claims`), with the command that measured them; with
``--sharpness`` the table adds the top Hessian eigenvalue and epsilon-sharpness of each
recipe's seed-0 model (:mod:`lbkeras.analysis`). Finished runs in
``--work_dir`` are reused (rerun to resume). Not a test: minutes per recipe and seed.

    python benchmarks/recipes.py                              # all MNIST-1D recipes, 3 seeds
    python benchmarks/recipes.py --configs=mnist1d_lamb_8k --seeds=1
    python benchmarks/recipes.py --configs=lm_adamw_16,lm_adamw_256,lm_lamb_256
    python benchmarks/recipes.py --update_claims --sharpness --work_dir=/tmp/recipes
"""

from __future__ import annotations

import dataclasses
import glob
import json
import os
import statistics
import sys
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from absl import app, flags  # noqa: E402

from lbkeras import models  # noqa: E402
from lbkeras.atomic import write_text  # noqa: E402
from lbkeras.training.claims import Claim, read_claim, with_claim  # noqa: E402
from lbkeras.training.task import claim_metric, result_metric  # noqa: E402
from lbkeras.tuning import trial  # noqa: E402
from tools.common import read_flagfile, recipe_path, seed_run  # noqa: E402

FLAGS = flags.FLAGS
flags.DEFINE_list("configs", [], "Recipe names or flagfiles (default: configs/mnist1d_*.cfg).")
flags.DEFINE_string(
    "baseline",
    "",
    "The small-batch recipe compared with (default: by the recipes' metric, "
    "mnist1d_nesterov_64 for test accuracy, lm_adamw_16 for eval bits per byte).",
)
flags.DEFINE_integer("seeds", 3, "Seeds per recipe (0, 1, ...).")
flags.DEFINE_string("work_dir", "", "Where the runs go (default: a temporary folder).")
flags.DEFINE_string(
    "data_dir", "", "MNIST-1D cache (default: the recipe's, else the dataset's own)."
)
flags.DEFINE_bool("update_claims", False, "Write the measured figures into the flagfiles.")
flags.DEFINE_bool(
    "sharpness", False, "Also measure the sharpness of each recipe's seed-0 model (about 1 min)."
)


#: The baseline of each claimed metric, when --baseline is not given.
BASELINES = {"test accuracy": "mnist1d_nesterov_64", "eval bits per byte": "lm_adamw_16"}
#: How a difference of each claimed metric is shown: (unit, factor).
UNITS = {"test accuracy": ("points", 100.0), "eval bits per byte": ("bits per byte", 1.0)}


@dataclasses.dataclass(frozen=True)
class Measured:
    """A recipe's claim as measured, with what the table adds: the metric on the
    training data (the last loop's, mean over seeds) and the sharpness of seed 0's model
    (if measured)."""

    claim: Claim
    train_value: float
    sharpness: dict | None = None


def metric_of(path: str) -> str:
    """The metric the recipe at ``path`` claims, by what its model predicts."""
    return claim_metric(models.task(read_flagfile(path).model))


def measure(path: str, seeds: int, work_dir: str) -> Measured:
    """Trains the recipe once per seed (reusing finished runs); what was measured."""
    name = os.path.splitext(os.path.basename(path))[0]
    recipe = read_flagfile(path)
    if recipe.dataset_options.get("validation"):
        raise ValueError(f"{name} evaluates on a validation hold-out: its test metric is unknown")
    metric = metric_of(path)
    key = result_metric(metric).name
    runs = []
    for seed in range(seeds):
        config = seed_run(recipe, name, seed, work_dir, FLAGS.data_dir)
        runs.append(trial.run_once(config))
        print(f"  {name} seed {seed}: {metric} {runs[-1][key]:.4f}", flush=True)
    values = [r[key] for r in runs]
    claim = Claim(
        value=statistics.mean(values),
        spread=statistics.stdev(values) if len(values) > 1 else 0.0,
        seeds=seeds,
        steps=runs[0]["steps"],
        seconds=statistics.mean(r["wall_seconds"] for r in runs),
        metric=metric,
    )
    train = statistics.mean(r["train_" + key.removeprefix("eval_")] for r in runs)
    sharpness = _sharpness(os.path.join(work_dir, name, "seed0")) if FLAGS.sharpness else None
    return Measured(claim, train, sharpness)


def _sharpness(model_dir: str) -> dict:
    """The sharpness of the run's model (``lbkeras-sharpness``'s defaults), measured once."""
    from lbkeras.analysis.trained_run import SHARPNESS_FILE, sharpness_of_run

    path = os.path.join(model_dir, SHARPNESS_FILE)
    if os.path.exists(path):
        with open(path) as f:
            return json.load(f)
    return sharpness_of_run(model_dir, data_dir=FLAGS.data_dir or None)


def behind(claim: Claim, value: float, reference: float) -> float:
    """How far ``value`` is behind ``reference`` in the better direction of ``claim``'s
    metric, in its unit (:data:`UNITS`): positive is worse."""
    factor = UNITS[claim.metric][1]
    worse = value - reference if claim.result.lower_is_better else reference - value
    return factor * worse


def table(rows: list[tuple[str, Claim | None, Measured]], baseline: Claim) -> str:
    unit = UNITS[baseline.metric][0]
    lines = [
        f"| recipe | claimed {baseline.metric} | measured | behind baseline ({unit}) "
        f"| eval behind train ({unit}) | top eigenvalue | eps-sharpness | steps | seconds |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name, claimed, measured in rows:
        shown = f"{claimed.value:.4f} ± {claimed.spread:.4f}" if claimed else "none"
        got = measured.claim
        sharp = measured.sharpness or {}
        lines.append(
            f"| {name} | {shown} | {got.value:.4f} ± {got.spread:.4f} "
            f"| {behind(got, got.value, baseline.value):.2f} "
            f"| {behind(got, got.value, measured.train_value):.2f} "
            f"| {_number(sharp.get('top_hessian_eigenvalue'))} "
            f"| {_number(sharp.get('epsilon_sharpness'))} "
            f"| {got.steps} | {got.seconds:.0f} |"
        )
    return "\n".join(lines)


def _number(value: float | None) -> str:
    return "" if value is None else f"{value:.1f}"


def main(argv: list[str]) -> None:
    del argv
    work_dir = FLAGS.work_dir or tempfile.mkdtemp(prefix="recipes-")
    names = FLAGS.configs or sorted(
        os.path.basename(p)[: -len(".cfg")]
        for p in glob.glob(os.path.join(ROOT, "configs", "mnist1d_*.cfg"))
    )
    metrics = {metric_of(recipe_path(name)) for name in names}
    baseline = FLAGS.baseline or BASELINES[sorted(metrics)[0]]
    metrics.add(metric_of(recipe_path(baseline)))
    if len(metrics) > 1:
        raise app.UsageError(
            f"the recipes and the baseline claim different metrics ({', '.join(sorted(metrics))}):"
            " compare classifiers and language models in separate runs"
        )
    ordered = [baseline, *(n for n in names if n != baseline)]
    rows = []
    for name in ordered:
        path = recipe_path(name)
        print(f"{name}: {FLAGS.seeds} seeds", flush=True)
        rows.append((name, read_claim(path), measure(path, FLAGS.seeds, work_dir)))
        if FLAGS.update_claims:
            command = f"python benchmarks/recipes.py --configs={name} --seeds={FLAGS.seeds}"
            with open(path) as f:
                write_text(path, with_claim(f.read(), rows[-1][2].claim, command))
    print(table(rows, rows[0][2].claim))
    print(f"runs in {work_dir}")


if __name__ == "__main__":
    app.run(main)
