"""What a scaling study found: one row per recipe and batch, the fit, tables and plots.

:func:`summarize` turns the trials' records (:mod:`lbkeras.tuning.study`) into, per
recipe, one row per batch size (its best trial: the fewest steps to the target, ties
to the better final value of the target metric: higher accuracy, lower loss) and the
fit ``S = S_min (1 + B_crit / B)`` of those steps;
:func:`write_report` writes them as ``study.json``, ``study.csv`` and ``study.md`` and
draws three PNGs (matplotlib's own log axes; nothing here is drawn by hand):

    steps_to_target.png   steps to the target against batch, log-log, with the
                          perfect-scaling line (slope -1 through the smallest batch)
                          and the fit
    accuracy.png          the best final eval accuracy against batch, per recipe
    learning_rate.png     the chosen learning rate against batch, beside the linear
                          and square-root rules from the smallest batch's choice

Example:
    >>> records = [
    ...     {"recipe": "sgd", "batch_size": b, "trial": t, "learning_rate": 0.1 * (t + 1),
    ...      "status": "done", "steps": 100, "eval_accuracy": 0.9 + 0.01 * t,
    ...      "train_accuracy": 0.95, "steps_to_target": s, "examples_to_target": s * b,
    ...      "seconds_to_target": 1.0, "b_simple_at_target": None}
    ...     for b, steps in ((64, (40, 30)), (256, (20, 12))) for t, s in enumerate(steps)]
    >>> rows = summarize(records)["recipes"]["sgd"]["rows"]
    >>> [(row["batch_size"], row["steps_to_target"], row["learning_rate"]) for row in rows]
    [(64, 30, 0.2), (256, 12, 0.2)]
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import statistics
from typing import Any

import numpy as np

from lbkeras.atomic import save_atomically, write_text
from lbkeras.tuning.scaling_fit import fit_scaling, steps_to_target

#: The columns of ``study.csv`` (and the keys of each row of ``study.json``).
COLUMNS = (
    "recipe",
    "batch_size",
    "steps_to_target",
    "examples_to_target",
    "seconds_to_target",
    "learning_rate",
    "eval_accuracy",
    "best_eval_accuracy",
    "train_accuracy",
    "trials_reaching_target",
    "trials",
    "b_simple_at_target",
)
PLOTS = ("steps_to_target.png", "accuracy.png", "learning_rate.png")
#: What a row takes from its batch's best trial.
BEST_TRIAL_KEYS = (
    "steps_to_target",
    "examples_to_target",
    "seconds_to_target",
    "learning_rate",
    "eval_accuracy",
    "train_accuracy",
    "b_simple_at_target",
)


def summarize(records: list[dict[str, Any]], settings: dict[str, Any] | None = None) -> dict:
    """Per recipe: one row per batch size (its best trial) and the scaling fit."""
    recipes: dict[str, Any] = {}
    for name in dict.fromkeys(r["recipe"] for r in records):
        mine = [r for r in records if r["recipe"] == name]
        rows = [
            _row([r for r in mine if r["batch_size"] == batch])
            for batch in sorted({r["batch_size"] for r in mine})
        ]
        recipes[name] = {"rows": rows, "fit": _fit(rows), "b_simple": _b_simple(rows)}
    return {"settings": settings or {}, "recipes": recipes, "trials": records}


def write_report(summary: dict, study_dir: str) -> list[str]:
    """Writes the tables and plots of ``summary`` into ``study_dir``; returns the paths."""
    paths = {
        name: os.path.join(study_dir, name) for name in ("study.json", "study.csv", "study.md")
    }
    write_text(paths["study.json"], json.dumps(summary, indent=2, default=_json_default))
    write_text(paths["study.csv"], csv_text(summary))
    write_text(paths["study.md"], markdown(summary))
    plots = [os.path.join(study_dir, name) for name in PLOTS]
    plot_steps(summary, plots[0])
    plot_accuracy(summary, plots[1])
    plot_learning_rates(summary, plots[2])
    return [*paths.values(), *plots]


def csv_text(summary: dict) -> str:
    """``study.csv``: one line per recipe and batch size, the :data:`COLUMNS`."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    for name, recipe in summary["recipes"].items():
        for row in recipe["rows"]:
            writer.writerow({"recipe": name, **{k: _blank(row[k]) for k in COLUMNS[1:]}})
    return out.getvalue()


def markdown(summary: dict) -> str:
    """``study.md``: the table, and per recipe the fit and the measured noise scale."""
    lines = [
        f"Steps to {_target(summary['settings'])} (best of each batch's learning-rate trials)",
        "",
        "| recipe | batch | steps to target | examples | seconds | learning rate "
        "| final accuracy (best trial) | best final accuracy | trials reaching target |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name, recipe in summary["recipes"].items():
        for row in recipe["rows"]:
            cells = [
                name,
                str(row["batch_size"]),
                _shown(row["steps_to_target"], missing="not reached"),
                _shown(row["examples_to_target"]),
                _shown(row["seconds_to_target"], ".0f"),
                f"{row['learning_rate']:.4g}",
                _shown(row["eval_accuracy"], ".4f"),
                _shown(row["best_eval_accuracy"], ".4f"),
                f"{row['trials_reaching_target']}/{row['trials']}",
            ]
            lines.append("| " + " | ".join(cells) + " |")
    lines.append("")
    for name, recipe in summary["recipes"].items():
        fit = recipe["fit"]
        fitted = (
            f"S_min = {fit['s_min']:.1f} steps, B_crit = {fit['b_crit']:.0f} "
            f"(rms log error {fit['rms_log_error']:.3f})"
            if fit
            else "too few batch sizes reached the target to fit S_min and B_crit"
        )
        measured = (
            f"; measured B_simple at the target {recipe['b_simple']:.0f}"
            if recipe["b_simple"] is not None
            else ""
        )
        lines.append(f"- {name}: {fitted}{measured}")
    return "\n".join(lines) + "\n"


def plot_steps(summary: dict, path: str) -> None:
    """Steps to the target against batch (log-log), perfect scaling and the fit."""
    plt, figure, axes = _figure()
    for color, (name, recipe) in zip(_colors(plt), summary["recipes"].items()):
        reached = [r for r in recipe["rows"] if r["steps_to_target"] is not None]
        if not reached:
            continue
        batches = [r["batch_size"] for r in reached]
        steps = [r["steps_to_target"] for r in reached]
        axes.plot(batches, steps, "o-", color=color, label=name)
        ideal = [steps[0] * batches[0] / b for b in batches]
        axes.plot(batches, ideal, ":", color=color, alpha=0.6, label=f"{name}: perfect scaling")
        if recipe["fit"]:
            fit = recipe["fit"]
            grid = np.geomspace(batches[0], batches[-1], 50)
            fitted = steps_to_target(grid, fit["s_min"], fit["b_crit"])
            label = f"{name}: fit S_min={fit['s_min']:.0f}, B_crit={fit['b_crit']:.0f}"
            axes.plot(grid, fitted, "--", color=color, alpha=0.8, label=label)
    axes.set_xscale("log", base=2)
    axes.set_yscale("log")
    axes.set_xlabel("global batch size")
    axes.set_ylabel("steps to target")
    _finish(plt, figure, axes, _title(summary, "Steps to target"), path)


def plot_accuracy(summary: dict, path: str) -> None:
    """The best final eval accuracy of each batch's trials, per recipe."""
    plt, figure, axes = _figure()
    for color, (name, recipe) in zip(_colors(plt), summary["recipes"].items()):
        rows = [r for r in recipe["rows"] if r["best_eval_accuracy"] is not None]
        axes.plot(
            [r["batch_size"] for r in rows],
            [r["best_eval_accuracy"] for r in rows],
            "o-",
            color=color,
            label=name,
        )
    target = summary["settings"].get("target")
    if target is not None and summary["settings"].get("target_metric") == "eval_accuracy":
        axes.axhline(target, color="tab:gray", linestyle="--", linewidth=1, label="target")
    axes.set_xscale("log", base=2)
    axes.set_xlabel("global batch size")
    axes.set_ylabel("best final eval accuracy")
    _finish(plt, figure, axes, _title(summary, "Final accuracy"), path)


def plot_learning_rates(summary: dict, path: str) -> None:
    """The best trial's learning rate per batch, beside the linear and square-root rules."""
    plt, figure, axes = _figure()
    for color, (name, recipe) in zip(_colors(plt), summary["recipes"].items()):
        rows = recipe["rows"]
        batches = [r["batch_size"] for r in rows]
        rates = [r["learning_rate"] for r in rows]
        axes.plot(batches, rates, "o-", color=color, label=f"{name}: chosen")
        b0, lr0 = batches[0], rates[0]
        axes.plot(batches, [lr0 * b / b0 for b in batches], ":", color=color, label="linear rule")
        axes.plot(
            batches,
            [lr0 * math.sqrt(b / b0) for b in batches],
            "-.",
            color=color,
            alpha=0.6,
            label="square-root rule",
        )
    axes.set_xscale("log", base=2)
    axes.set_yscale("log")
    axes.set_xlabel("global batch size")
    axes.set_ylabel("peak learning rate")
    _finish(plt, figure, axes, _title(summary, "Chosen learning rate"), path)


def _row(trials: list[dict[str, Any]]) -> dict[str, Any]:
    """The best trial of one batch size, and what all its trials reached."""
    reached = [t for t in trials if t["steps_to_target"] is not None]
    finished = [t for t in trials if t["eval_accuracy"] is not None]
    if reached:
        best = min(reached, key=lambda t: (t["steps_to_target"], _worse(t)))
    elif finished:
        best = min(finished, key=_worse)
    else:
        best = trials[0]
    return {
        "batch_size": best["batch_size"],
        **{key: best[key] for key in BEST_TRIAL_KEYS},
        "best_eval_accuracy": max((t["eval_accuracy"] for t in finished), default=None),
        "trials_reaching_target": len(reached),
        "trials": len(trials),
        "best_trial": best["trial"],
    }


def _worse(trial: dict[str, Any]) -> float:
    """The trial's final value of its target metric, signed so that lower is better
    (records without a target metric: their accuracy)."""
    value = trial[trial.get("target_metric", "eval_accuracy")]
    return value if trial.get("lower_is_better", False) else -value


def _fit(rows: list[dict[str, Any]]) -> dict[str, float] | None:
    reached = [r for r in rows if r["steps_to_target"] is not None]
    if len(reached) < 2:
        return None
    fit = fit_scaling([r["batch_size"] for r in reached], [r["steps_to_target"] for r in reached])
    return {"s_min": fit.s_min, "b_crit": fit.b_crit, "rms_log_error": fit.rms_log_error}


def _b_simple(rows: list[dict[str, Any]]) -> float | None:
    """The median over batch sizes of the best trials' noise scale at the target."""
    values = [r["b_simple_at_target"] for r in rows if r["b_simple_at_target"] is not None]
    return statistics.median(values) if values else None


def _figure():
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    figure, axes = plt.subplots(figsize=(8, 5), dpi=100)
    return plt, figure, axes


def _colors(plt) -> list[str]:
    return plt.rcParams["axes.prop_cycle"].by_key()["color"]


def _finish(plt, figure, axes, title: str, path: str) -> None:
    axes.grid(alpha=0.3, which="both")
    if axes.get_legend_handles_labels()[0]:
        axes.legend(fontsize=8)
    else:
        axes.text(
            0.5, 0.5, "no batch size reached the target", ha="center", transform=axes.transAxes
        )
    axes.set_title(title, fontsize=10)
    figure.tight_layout()
    save_atomically(path, lambda tmp: figure.savefig(tmp, format="png"))
    plt.close(figure)


def _title(summary: dict, what: str) -> str:
    settings = summary["settings"]
    if "target" not in settings:
        return what
    return f"{what}: {_target(settings)}, best of {settings['trials']} learning rates per batch"


def _target(settings: dict[str, Any]) -> str:
    """The study's target in words, e.g. ``eval_loss <= 1.8``."""
    if "target" not in settings:
        return "the target"
    below = settings.get("lower_is_better", False)
    metric = settings.get("target_metric") or "eval_accuracy"
    return f"{metric} {'<=' if below else '>='} {settings['target']}"


def _shown(value: Any, spec: str = "d", missing: str = "-") -> str:
    if value is None:
        return missing
    return format(int(value) if spec == "d" else value, spec)


def _blank(value: Any) -> Any:
    return "" if value is None else value


def _json_default(value: Any) -> Any:
    if isinstance(value, tuple):
        return list(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")
