"""The critical batch of the byte-level LM, on the full corpus and on 1/4 and 1/16 of it.

Three batch-size scaling studies (:mod:`lbkeras.tuning.study`, as ``lbkeras-study``
runs them) of the LM of ``configs/lm_adamw_16.cfg`` (AdamW, its rate scaled from batch
16 by the square-root rule), one per corpus size (``train_fraction`` 1, 1/4, 1/16 of
the 10.26 MB training text; the held-out split unchanged, of which the trials evaluate
the first ``--eval_fraction``, 64 KB by default, as evaluating often on all 0.51 MB
would cost more than the training). Every trial trains the same
``--train_tokens`` with 2 accumulation steps per update, so that the gradient noise
scale B_simple (McCandlish et al. 2018) is measured during the runs
(``--monitor_every_steps``). The warmup is the same share of the tokens everywhere.

The trials run once; then for each eval-loss target (``--targets``, nats) the steps to
the target at each batch are read from the trials' eval curves and fitted with
``S = S_min (1 + B_crit / B)``, beside the median B_simple at the target. It prints one
table (corpus, target, batches reaching it, S_min, B_crit, B_simple) and writes
``study.json``/``study.md`` and the plots per corpus (at ``--steps_target``) into
``--work_dir``, and one figure, ``--plot`` (B_crit and B_simple against the target, per
corpus; and steps against batch at one target). Rerun to resume: finished trials are
reused. Not a test: 15 runs of 1-5 minutes on a 2-core CPU (about 35 minutes, loaded).

    python benchmarks/lm_study.py --work_dir=/work/studies/lm_study
    python benchmarks/lm_study.py --fractions=1 --batch_sizes=16,64 --train_tokens=262144
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from absl import app, flags  # noqa: E402

from lbkeras.training.config import ExperimentConfig  # noqa: E402
from lbkeras.tuning import study, study_report  # noqa: E402
from tools.common import print_progress, read_flagfile, recipe_path  # noqa: E402

FLAGS = flags.FLAGS
flags.DEFINE_string("recipe", "lm_adamw_16", "The recipe studied (a name in configs/).")
flags.DEFINE_list("fractions", ["1", "0.25", "0.0625"], "Training-corpus fractions studied.")
flags.DEFINE_list("batch_sizes", ["8", "16", "32", "64", "128"], "Global batches (sequences).")
flags.DEFINE_list(
    "targets",
    ["3.0", "2.8", "2.6", "2.4", "2.2", "2.0", "1.8"],
    "Eval-loss targets (nats), from loose to hard.",
)
flags.DEFINE_float("steps_target", 3.0, "The target of the steps-against-batch plot and report.")
flags.DEFINE_integer("train_tokens", 2**20, "Tokens of every trial.")
flags.DEFINE_float("warmup_share", 0.1, "Warmup as a share of the trial's tokens.")
flags.DEFINE_integer("evals_per_run", 10, "Evaluations per trial.")
flags.DEFINE_float(
    "eval_fraction", 0.125, "Evaluate on the first this share of the held-out text (cheaper)."
)
flags.DEFINE_integer("monitor_every_steps", 4, "Noise-scale summaries every this many steps.")
flags.DEFINE_string("work_dir", "/tmp/lm_study", "Where the studies go.")
flags.DEFINE_string(
    "plot", os.path.join(ROOT, "docs", "lm_critical_batch.png"), "The figure written."
)

#: Batches that must reach a target for its B_crit to be plotted: two give an exact fit
#: whatever the steps (their B_crit is a ratio of two quantised step counts).
MIN_FIT_POINTS = 3
#: Bytes of the default corpus's training split (lbkeras/data/text.py).
TRAIN_BYTES = 10_264_340


def corpus_recipe(recipe: ExperimentConfig, fraction: float) -> ExperimentConfig:
    """``recipe`` on ``fraction`` of the training text, measuring the noise scale, with
    the warmup a fixed share of the tokens (passes are shorter on a smaller corpus)."""
    context = recipe.dataset_options.get("context", 128)
    windows = (round(TRAIN_BYTES * fraction) - 1) // context  # text.TextDataset.num_windows
    passes = FLAGS.train_tokens / (context * windows)
    return recipe.replace(
        dataset_options={
            **recipe.dataset_options,
            "train_fraction": fraction,
            "eval_fraction": FLAGS.eval_fraction,
        },
        train_tokens=FLAGS.train_tokens,
        warmup_epochs=FLAGS.warmup_share * passes,
        accumulation_steps=2,
        monitor_every_steps=FLAGS.monitor_every_steps,
    )


def settings(target: float) -> study.StudySettings:
    return study.StudySettings(
        batch_sizes=tuple(int(b) for b in FLAGS.batch_sizes),
        target=target,
        target_metric="eval_loss",
        trials=1,
        lr_spread=1.0,
        evals_per_run=FLAGS.evals_per_run,
    )


def summaries(trials: list[study.Trial], targets: list[float]) -> dict[float, dict]:
    """The study's summary at each target, from the finished trials' eval curves."""
    out = {}
    for target in targets:
        records = [study.finished_record(trial, target) for trial in trials]
        out[target] = study_report.summarize(
            records,
            {
                **dataclasses.asdict(settings(target)),
                "target_metric": "eval_loss",
                "lower_is_better": True,
            },
        )
    return out


def rows(fraction: float, by_target: dict[float, dict]) -> list[dict]:
    """One row per target: what reached it, and the fit."""
    out = []
    for target, summary in by_target.items():
        (recipe,) = summary["recipes"].values()
        reached = [r["batch_size"] for r in recipe["rows"] if r["steps_to_target"] is not None]
        fit = recipe["fit"] or {}
        out.append(
            {
                "fraction": fraction,
                "train_bytes": round(TRAIN_BYTES * fraction),
                "target": target,
                "reached": reached,
                "steps": {r["batch_size"]: r["steps_to_target"] for r in recipe["rows"]},
                "s_min": fit.get("s_min"),
                "b_crit": fit.get("b_crit"),
                "rms_log_error": fit.get("rms_log_error"),
                "b_simple": recipe["b_simple"],
                "final_eval_loss": {t["batch_size"]: t["eval_loss"] for t in summary["trials"]},
            }
        )
    return out


def table(all_rows: list[dict]) -> str:
    lines = [
        "| train text | target eval loss | batches reaching it | S_min | B_crit | B_simple |",
        "| --- | ---: | --- | ---: | ---: | ---: |",
    ]
    for r in all_rows:
        lines.append(
            f"| {r['train_bytes'] / 1e6:.2f} MB | {r['target']:g} "
            f"| {', '.join(map(str, r['reached'])) or 'none'} | {_shown(r['s_min'])} "
            f"| {_shown(r['b_crit'])}{_few(r)} "
            f"| {_shown(r['b_simple'])} |"
        )
    return "\n".join(lines)


def _few(row: dict) -> str:
    """A mark on a fit of fewer than :data:`MIN_FIT_POINTS` batches (exact, so untested)."""
    few = row["b_crit"] is not None and len(row["reached"]) < MIN_FIT_POINTS
    return f" ({len(row['reached'])} points)" if few else ""


def _shown(value: float | None) -> str:
    if value is None:
        return "-"
    return "< 1" if value < 1 else f"{value:.0f}"


def plot(all_rows: list[dict], steps_target: float, path: str) -> None:
    """B_crit and B_simple against the target (left); steps against batch (right)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    figure, (left, right) = plt.subplots(1, 2, figsize=(12, 4.8))
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    fractions = list(dict.fromkeys(r["fraction"] for r in all_rows))
    for color, fraction in zip(colors, fractions):
        mine = [r for r in all_rows if r["fraction"] == fraction]
        label = f"{mine[0]['train_bytes'] / 1e6:.2f} MB of text"
        fitted = [r for r in mine if len(r["reached"]) >= MIN_FIT_POINTS]
        left.plot(
            [r["target"] for r in fitted],
            [r["b_crit"] for r in fitted],
            "o-",
            color=color,
            label=f"B_crit, {label}",
        )
        simple = [r for r in mine if r["b_simple"] is not None]
        left.plot(
            [r["target"] for r in simple],
            [r["b_simple"] for r in simple],
            "s--",
            color=color,
            alpha=0.7,
            label=f"B_simple, {label}",
        )
        at = next(r for r in mine if r["target"] == steps_target)
        points = sorted((b, s) for b, s in at["steps"].items() if s is not None)
        if points:
            right.plot(*zip(*points), "o", color=color, label=label)
        if at["b_crit"] is not None:
            b = np.geomspace(min(at["steps"]), max(at["steps"]), 50)
            right.plot(b, at["s_min"] * (1 + at["b_crit"] / b), "-", color=color, alpha=0.6)
    batches = sorted({b for r in all_rows for b in r["steps"]})
    left.axhspan(min(batches), max(batches), color="0.9", zorder=0, label="batches run")
    left.set(
        xlabel="target eval loss (nats per byte; lower = later in training)",
        ylabel="batch (sequences of 128 bytes)",
        yscale="log",
        title=f"B_crit (fits of >= {MIN_FIT_POINTS} batches) and B_simple at the target",
    )
    left.invert_xaxis()
    left.legend(fontsize=7)
    right.set(
        xscale="log",
        yscale="log",
        xlabel="global batch (sequences)",
        ylabel=f"steps to eval loss {steps_target:g}",
        title=f"Steps to eval loss {steps_target:g}; lines: S_min (1 + B_crit / B)",
    )
    right.legend(fontsize=8)
    figure.tight_layout()
    os.makedirs(os.path.dirname(path), exist_ok=True)
    figure.savefig(path, dpi=110)


def main(argv: list[str]) -> None:
    del argv
    recipe = read_flagfile(recipe_path(FLAGS.recipe))
    targets = [float(t) for t in FLAGS.targets]
    middle = FLAGS.steps_target
    if middle not in targets:
        raise app.UsageError(f"--steps_target={middle:g} is not one of --targets")
    all_rows = []
    for fraction in (float(f) for f in FLAGS.fractions):
        name = f"train_fraction_{fraction:g}"
        study_dir = os.path.join(FLAGS.work_dir, name)
        trials = study.plan_trials(
            {name: corpus_recipe(recipe, fraction)}, settings(middle), study_dir
        )
        study.run_trials(trials, settings(middle), progress=print_progress)
        by_target = summaries(trials, targets)
        study_report.write_report(by_target[middle], study_dir)
        all_rows += rows(fraction, by_target)
    with open(os.path.join(FLAGS.work_dir, "lm_study.json"), "w") as f:
        json.dump(all_rows, f, indent=2)
    print(table(all_rows))
    plot(all_rows, middle, FLAGS.plot)
    print(f"studies in {FLAGS.work_dir}; figure {FLAGS.plot}")


if __name__ == "__main__":
    app.run(main)
