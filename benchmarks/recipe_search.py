"""The search behind the large-batch MNIST-1D recipes: which method and which aids keep
the B=64 accuracy at batches 2048, 4096 and 8192, tuned on a validation split.

Every run has the same data budget, 30 passes (``--epochs``) over the training examples
left after holding out the last ``--validation`` of them; the eval split is that
hold-out, so the test set plays no part in any choice here (``benchmarks/recipes.py``
measures the shipped winners on it, once). Three stages, each a set of trainer runs in
processes of their own through :mod:`lbkeras.tuning.study` (resumable: rerun the same
command and finished runs are read back):

1. **methods**: per batch, each of :data:`METHODS` at the rate its scaling rule gives
   times ``1/3, 1, 3`` (the same three trials for every method and batch); where the
   best method's best rate is at an end of that grid, one more trial 3x beyond it;
2. **aids**: per batch, the best method at its best rate with each of :data:`AIDS` added
   (one run each: the gain of the aid alone);
3. **combined**: the best method with every aid that gained;
4. **refine**: per batch, the best so far at its rate times and divided by sqrt(3);
5. **baseline**: Nesterov momentum at ``--baseline_batch_size`` (64) with the base rate
   0.1 at 256, the same three trials and the same trial beyond an end of the grid.

Prints (and writes to ``WORK_DIR/search.md``) the tables: best validation accuracy per
method and batch with the rate, and per batch the gain of each aid, the train accuracy,
the generalisation gap (train minus validation accuracy) and, with ``--sharpness``, the
top Hessian eigenvalue and epsilon-sharpness of the final model (:mod:`lbkeras.analysis`,
:data:`SHARPNESS`).

    python benchmarks/recipe_search.py --work_dir=/work/studies/recipes
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import sys
from collections.abc import Callable
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from absl import app, flags  # noqa: E402

from lbkeras.atomic import write_text  # noqa: E402
from lbkeras.training.config import ExperimentConfig  # noqa: E402
from lbkeras.tuning import study  # noqa: E402

FLAGS = flags.FLAGS
flags.DEFINE_string("work_dir", "", "Where the runs go (required; rerun to resume).")
flags.DEFINE_list("batch_sizes", ["2048", "4096", "8192"], "Global batches searched.")
flags.DEFINE_integer("validation", 4000, "Training examples held out as the eval split.")
flags.DEFINE_float("epochs", 30, "Passes over the (reduced) training set per run.")
flags.DEFINE_list("methods", [], "Subset of the methods (default: all).")
flags.DEFINE_integer("baseline_batch_size", 64, "The small batch the others are compared with.")
flags.DEFINE_bool("sharpness", False, "Measure the sharpness of the aid runs' final models.")

#: The rate grid: the rule's rate divided and multiplied by this (and one step further
#: out for the best method where its best rate is at an end).
GRID_STEP = 3.0

#: Common to every run: the model, the data, 5 epochs of linear warmup.
BASE = dict(model="mnist1d_cnn", dataset="mnist1d", base_batch_size=256, warmup_epochs=5)

#: The plain recipes: optimizer, scaling rule and decay as their papers give them; the
#: base rate is the one the rule scales (tuned at 256, or 1024 for Malladi's Adam).
METHODS: dict[str, dict[str, Any]] = {
    "nesterov": dict(  # Goyal et al. 2017: linear rule, warmup; cosine decay
        optimizer="nesterov",
        base_learning_rate=0.05,
        lr_scaling="linear",
        momentum=0.9,
        weight_decay=1e-4,
        schedule="cosine",
    ),
    "lars": dict(  # You, Gitman, Ginsburg 2017: linear rule, polynomial decay of power 2
        optimizer="lars",
        base_learning_rate=0.5,
        lr_scaling="linear",
        momentum=0.9,
        weight_decay=1e-3,
        schedule="polynomial",
        schedule_power=2,
    ),
    "lamb": dict(  # You et al. 2020: square-root rule, linear decay, weight decay 0.01
        optimizer="lamb",
        base_learning_rate=5e-3,
        lr_scaling="sqrt",
        weight_decay=0.01,
        schedule="polynomial",
        schedule_power=1,
    ),
    "adam_sqrt": dict(  # Hoffer et al. 2017 / Granziol et al.: rate times sqrt(k)
        optimizer="adam",
        base_learning_rate=1e-3,
        lr_scaling="sqrt",
        weight_decay=1e-4,
        schedule="cosine",
    ),
    "adam_malladi": dict(  # Malladi et al. 2022: also 1 - beta and epsilon, from 1024
        optimizer="adam",
        base_learning_rate=2e-3,
        base_batch_size=1024,
        lr_scaling="malladi",
        weight_decay=1e-4,
        schedule="cosine",
    ),
}

#: The aids, each added alone to the best method at its best rate.
AIDS: dict[str, dict[str, Any]] = {
    "warmup_2": dict(warmup_epochs=2),
    "warmup_10": dict(warmup_epochs=10),
    "label_smoothing": dict(label_smoothing=0.1),
    "ghost_bn_256": dict(ghost_batch_size=256),
    "sam": dict(sam_rho=0.05),
    "gradient_noise": dict(gradient_noise_eta=0.01),
    "lookahead": dict(lookahead=5),
}


def method_config(name: str, batch: int, work_dir: str) -> ExperimentConfig:
    """``name`` of :data:`METHODS` at ``batch`` on the validation split."""
    options = METHODS[name]
    return ExperimentConfig(
        **{**BASE, **options},
        global_batch_size=batch,
        epochs=FLAGS.epochs,
        dataset_options={"validation": FLAGS.validation},
        model_dir=work_dir,
    )


def run_stage(
    stage: str,
    recipes_at: Callable[[int], dict[str, ExperimentConfig]],
    trials: int,
    batches: tuple[int, ...] = (),
    spread: float = GRID_STEP,
) -> list[dict[str, Any]]:
    """The records of every recipe ``recipes_at(batch)`` gives, at every batch."""
    batches = batches or tuple(map(int, FLAGS.batch_sizes))
    settings = study.StudySettings(
        batch_sizes=batches, target=0.99, trials=trials, lr_spread=spread, evals_per_run=10
    )
    planned = []
    for batch in batches:
        recipes = recipes_at(batch)
        if recipes:  # a stage may have nothing to run at a batch (no aid helped)
            at = dataclasses.replace(settings, batch_sizes=(batch,))
            planned += study.plan_trials(recipes, at, os.path.join(FLAGS.work_dir, stage))
    return study.run_trials(planned, settings, progress=lambda line: print(line, flush=True))


def best(records: list[dict[str, Any]]) -> dict[str, Any]:
    """The record with the highest final validation accuracy (diverged runs: never)."""
    done = [r for r in records if r["status"] == study.DONE]
    return max(done, key=lambda r: r["eval_accuracy"])


def by(records: list[dict[str, Any]], *keys: str) -> dict[tuple, list[dict[str, Any]]]:
    grouped: dict[tuple, list[dict[str, Any]]] = {}
    for record in records:
        grouped.setdefault(tuple(record[k] for k in keys), []).append(record)
    return grouped


def winner_config(record: dict[str, Any], **changes: Any) -> ExperimentConfig:
    """The config of ``record``'s run with ``changes``, ready to be planned again."""
    return ExperimentConfig.from_json(json.dumps(record["config"])).replace(**changes)


#: The ablation's sharpness measurement: lbkeras-sharpness's, on half the batches and
#: with half the iterations (about 20 s a model on 2 cores instead of 70).
SHARPNESS = dict(num_batches=2, ascent_steps=10, power_iterations=50)


def sharpness(record: dict[str, Any]) -> dict[str, Any]:
    """The sharpness of ``record``'s final model (measured once, then read back); empty
    without ``--sharpness`` or for a diverged run."""
    if not FLAGS.sharpness or record["status"] != study.DONE:
        return {}
    from lbkeras.analysis.trained_run import SHARPNESS_FILE, SharpnessSettings, sharpness_of_run

    path = os.path.join(record["config"]["model_dir"], SHARPNESS_FILE)
    if os.path.exists(path):
        with open(path) as f:
            return json.load(f)
    return sharpness_of_run(record["config"]["model_dir"], SharpnessSettings(**SHARPNESS))


def beyond_the_edge(
    leader: dict[str, Any], records: list[dict[str, Any]]
) -> dict[str, ExperimentConfig]:
    """The batch's best method one grid step (x3) beyond its best rate, if that rate is
    at an end of the grid (the optimum may lie outside it); else nothing."""
    factors = [
        r["lr_factor"]
        for r in records
        if r["recipe"] == leader["recipe"] and r["batch_size"] == leader["batch_size"]
    ]
    if leader["lr_factor"] not in (min(factors), max(factors)):
        return {}
    step = GRID_STEP if leader["lr_factor"] == max(factors) else 1 / GRID_STEP
    rate = ExperimentConfig.from_json(json.dumps(leader["config"])).base_learning_rate
    return {leader["recipe"]: winner_config(leader, base_learning_rate=rate * step)}


def combined_recipe(
    plain: dict[str, Any], aid_records: list[dict[str, Any]]
) -> dict[str, ExperimentConfig]:
    """The plain winner with every aid that beat it (none unless two or more did)."""
    helped = [
        aid
        for aid in AIDS
        for r in aid_records
        if r["recipe"] == f"{plain['recipe']}+{aid}"
        and r["status"] == study.DONE
        and r["eval_accuracy"] > plain["eval_accuracy"]
    ]
    if len(helped) < 2:
        return {}
    changes = {k: v for aid in helped for k, v in AIDS[aid].items()}
    return {"+".join([plain["recipe"], *helped]): winner_config(plain, **changes)}


def overall_best(
    batch: int, plain: dict[int, dict], others: list[dict[str, Any]]
) -> dict[str, Any]:
    return best([plain[batch], *(r for r in others if r["batch_size"] == batch)])


def choice_table(
    baseline: dict[str, Any], chosen: dict[int, dict[str, Any]], refined: list[dict[str, Any]]
) -> str:
    lines = [
        "| batch | recipe | rate | val acc | behind baseline (points) | refined: rate (val acc) |",
        "| ---: | --- | ---: | ---: | ---: | --- |",
    ]
    for batch, record in chosen.items():
        around = [r for r in refined if r["batch_size"] == batch]
        final = best([record, *around])
        tried = ", ".join(
            f"{r['learning_rate']:.3g} ({r['eval_accuracy']:.4f})"
            if r["status"] == study.DONE
            else f"{r['learning_rate']:.3g} (diverged)"
            for r in around
        )
        lines.append(
            f"| {batch} | {final['recipe']} | {final['learning_rate']:.3g} "
            f"| {final['eval_accuracy']:.4f} "
            f"| {100 * (baseline['eval_accuracy'] - final['eval_accuracy']):.2f} | {tried} |"
        )
    return "\n".join(lines)


def _number(value: float | None) -> str:
    return "" if value is None else f"{value:.1f}"


def methods_table(records: list[dict[str, Any]]) -> str:
    batches = list(map(int, FLAGS.batch_sizes))
    lines = [
        "| method | " + " | ".join(f"B={b}: val acc (rate)" for b in batches) + " |",
        "| --- | " + " | ".join("---:" for _ in batches) + " |",
    ]
    grouped = by(records, "recipe", "batch_size")
    for name in dict.fromkeys(r["recipe"] for r in records):
        cells = []
        for batch in batches:
            runs = grouped.get((name, batch), [])
            done = [r for r in runs if r["status"] == study.DONE]
            cells.append(
                f"{best(done)['eval_accuracy']:.4f} ({best(done)['learning_rate']:.3g})"
                if done
                else "diverged"
            )
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def aids_table(plain: dict[int, dict[str, Any]], records: list[dict[str, Any]]) -> str:
    lines = [
        "| batch | recipe | val acc | gain (points) | train acc | gap (points) "
        "| top eigenvalue | eps-sharpness |",
        "| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for batch, base in plain.items():
        rows = [base] + [r for r in records if r["batch_size"] == batch]
        for record in rows:
            if record["status"] != study.DONE:
                lines.append(f"| {batch} | {record['recipe']} | diverged | | | | | |")
                continue
            measured = sharpness(record)
            lines.append(
                f"| {batch} | {record['recipe']} | {record['eval_accuracy']:.4f} "
                f"| {100 * (record['eval_accuracy'] - base['eval_accuracy']):+.2f} "
                f"| {record['train_accuracy']:.4f} "
                f"| {100 * (record['train_accuracy'] - record['eval_accuracy']):.2f} "
                f"| {_number(measured.get('top_hessian_eigenvalue'))} "
                f"| {_number(measured.get('epsilon_sharpness'))} |"
            )
    return "\n".join(lines)


def main(argv: list[str]) -> None:
    del argv
    if not FLAGS.work_dir:
        raise app.UsageError("--work_dir is required (rerun the same command to resume)")
    names = FLAGS.methods or list(METHODS)
    methods = run_stage(
        "methods", lambda b: {n: method_config(n, b, FLAGS.work_dir) for n in names}, trials=3
    )
    leaders = {batch: best(runs) for (batch,), runs in by(methods, "batch_size").items()}
    methods += run_stage("edge", lambda b: beyond_the_edge(leaders[b], methods), trials=1)
    plain = {batch: best(runs) for (batch,), runs in by(methods, "batch_size").items()}
    aids = run_stage(
        "aids",
        lambda b: {
            f"{plain[b]['recipe']}+{aid}": winner_config(plain[b], **changes)
            for aid, changes in AIDS.items()
        },
        trials=1,
    )
    combined = run_stage(
        "combined",
        lambda b: combined_recipe(plain[b], [r for r in aids if r["batch_size"] == b]),
        trials=1,
    )
    chosen = {b: overall_best(b, plain, aids + combined) for b in plain}
    refined = run_stage(
        "refine",
        lambda b: {chosen[b]["recipe"]: winner_config(chosen[b])},
        trials=2,
        spread=math.sqrt(GRID_STEP),
    )
    small = FLAGS.baseline_batch_size
    at_small = run_stage(
        "baseline",
        lambda b: {
            "nesterov": method_config("nesterov", b, FLAGS.work_dir).replace(base_learning_rate=0.1)
        },
        trials=3,
        batches=(small,),
    )
    at_small += run_stage(
        "baseline_edge",
        lambda b: beyond_the_edge(best(at_small), at_small),
        trials=1,
        batches=(small,),
    )
    baseline = best(at_small)
    report = "\n\n".join(
        [
            f"Baseline: Nesterov at B={small}, rate {baseline['learning_rate']:.3g}: "
            f"validation accuracy {baseline['eval_accuracy']:.4f} (best of {len(at_small)} rates)",
            f"Validation accuracy ({FLAGS.validation} held-out training examples) after "
            f"{FLAGS.epochs:g} passes over the rest (best of 3 rates per method and batch)",
            methods_table(methods),
            "Aids added to each batch's best method at its best rate (one run each)",
            aids_table(plain, aids + combined),
            "The choice per batch: the best of the above, refined (its rate x/÷ sqrt(3))",
            choice_table(baseline, chosen, refined),
        ]
    )
    print(report)
    write_text(os.path.join(FLAGS.work_dir, "search.md"), report + "\n")


if __name__ == "__main__":
    app.run(main)
