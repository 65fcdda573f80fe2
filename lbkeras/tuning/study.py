"""The batch-size scaling study: steps to a target eval metric against the global batch.

For each recipe (an :class:`~lbkeras.training.ExperimentConfig`) and each batch size
(the effective batch of an update: the global batch times any accumulation steps), a
small learning-rate search: ``trials`` runs at the rate the recipe's scaling
rule gives for that batch, times factors spread over ``[1/lr_spread, lr_spread]``
(a log grid, or quasi-random). Every trial is a normal trainer run in a process of its
own (:mod:`lbkeras.tuning.process`), in its own ``model_dir``, evaluating about
``evals_per_run`` times, so that the step at which the eval metric ``target_metric``
first reaches ``target`` is known: an accuracy at or above it (classifiers' default), a
loss or bits per byte at or below it (language models' default: ``eval_loss``); the
direction belongs to the metric (:class:`lbkeras.training.task.TargetMetric`). Per
batch, the best trial is the one that reaches the target in the fewest steps; its
steps against the batch, fitted with
:func:`~lbkeras.tuning.scaling_fit.fit_scaling`, give ``S_min`` and ``B_crit``.

The study folder holds ``RECIPE/bBATCH/tTRIAL/`` per trial (the trainer's outputs and a
``trial.json`` written last, atomically, when the trial has finished): rerunning the same
study skips finished trials, and a trial that was killed resumes from its last backup,
so a killed study loses at most the part of the trial in progress since its backup.
:mod:`lbkeras.tuning.study_report` writes the tables and plots.

Tune on a validation split, not the test set, when the numbers are to be reported
(Shallue et al. tune and measure on a held-out validation set).

References:
    Shallue, Lee, Antognini et al., "Measuring the Effects of Data Parallelism on Neural
    Network Training", JMLR 2019 (https://arxiv.org/abs/1811.03600).
    Godbole, Dahl, Gilmer et al., "Deep Learning Tuning Playbook", 2023.

Example:
    >>> settings = StudySettings(batch_sizes=(256, 1024), trials=3, lr_spread=4.0)
    >>> [round(f, 3) for f in learning_rate_factors(settings)]
    [0.25, 1.0, 4.0]
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import json
import logging
import os
import time
from collections.abc import Callable, Sequence
from typing import Any

from lbkeras import atomic, data, models, optimizers
from lbkeras.checks import check_float, check_int
from lbkeras.monitoring.events import read_scalars
from lbkeras.training.config import ExperimentConfig, setting
from lbkeras.training.plan import plan
from lbkeras.training.recipe import (
    accumulation_steps,
    base_learning_rate,
    base_optimizer_name,
    effective_batch_size,
    peak_learning_rate,
)
from lbkeras.training.task import TargetMetric, target_metric
from lbkeras.tuning import process, study_report
from lbkeras.tuning.trial import WORKER

#: How the trial learning rates are spread around the scaling rule's.
SEARCHES = ("grid", "quasirandom")
#: Trial outcomes: trained to the end, stopped by a NaN loss.
DONE, DIVERGED = "done", "diverged"
TRIAL_FILE = "trial.json"


@dataclasses.dataclass(frozen=True)
class StudySettings:
    """What a scaling study varies and measures (every field a flag of ``lbkeras-study``)."""

    batch_sizes: tuple[int, ...] = setting(
        (64, 256, 1024, 4096), "Global batch sizes to study (comma-separated)."
    )
    target: float = setting(
        0.95,
        "The value of --target_metric to reach (an accuracy at or above it, in (0, 1); a "
        "loss or bits per byte at or below it); steps to it are the study's measure.",
    )
    target_metric: str = setting(
        "",
        "The eval metric to reach, named as in results.json: eval_accuracy, eval_loss, or "
        "eval_bits_per_byte for language models; empty: the dataset's task decides "
        "(eval_accuracy for classifiers, eval_loss for language models).",
    )
    trials: int = setting(3, "Learning-rate trials per recipe and batch size.")
    lr_spread: float = setting(
        4.0,
        "Trial rates lie between the scaling rule's rate divided and multiplied by this.",
    )
    search: str = setting("grid", "How trial rates are spread.", choices=SEARCHES)
    evals_per_run: int = setting(
        30, "Evaluations per trial (the resolution of the steps to the target)."
    )
    parallel: int = setting(1, "Trials run at once, each a process (1 on a 2-core machine).")

    def __post_init__(self):
        if not self.batch_sizes:
            raise ValueError("batch_sizes is empty: give one or more, e.g. --batch_sizes=64,1024")
        for size in self.batch_sizes:
            check_int("batch_sizes", size, positive=True)
        if len(set(self.batch_sizes)) != len(self.batch_sizes):
            raise ValueError(f"batch_sizes={list(self.batch_sizes)} repeats a size")
        check_float("target", self.target)  # its range is the metric's: plan_trials
        check_int("trials", self.trials, positive=True)
        check_float("lr_spread", self.lr_spread)
        if self.lr_spread < 1:
            raise ValueError(f"lr_spread={self.lr_spread} must be >= 1 (1: the rule's rate only)")
        if self.search not in SEARCHES:
            raise ValueError(f"search={self.search!r}; choose one of: {', '.join(SEARCHES)}")
        check_int("evals_per_run", self.evals_per_run, positive=True)
        check_int("parallel", self.parallel, positive=True)


@dataclasses.dataclass(frozen=True)
class Trial:
    """One planned run of the study."""

    recipe: str
    batch_size: int
    index: int
    lr_factor: float
    config: ExperimentConfig
    metric: TargetMetric

    @property
    def directory(self) -> str:
        return self.config.model_dir


def run_study(
    recipes: dict[str, ExperimentConfig],
    settings: StudySettings,
    study_dir: str,
    progress: Callable[[str], None] = logging.info,
) -> dict[str, Any]:
    """Plans, runs (skipping finished trials), summarises and reports a scaling study.

    Args:
        recipes: name -> the recipe's config (its batch size and ``model_dir`` are
            replaced per trial; its learning rate scaled by the trial's factor).
        settings: what the study varies and measures.
        study_dir: the study's folder (trials, tables and plots).
        progress: called with one line per finished trial.

    Returns:
        The summary :func:`lbkeras.tuning.study_report.summarize` gives (also written
        to ``study_dir/study.json``).

    Raises:
        ValueError: bad input (before anything is written), or a trial that failed.
    """
    trials = plan_trials(recipes, settings, study_dir)
    os.makedirs(study_dir, exist_ok=True)
    records = run_trials(trials, settings, progress)
    metric = trials[0].metric
    summary = study_report.summarize(
        records,
        {
            **dataclasses.asdict(settings),
            "target_metric": metric.name,
            "lower_is_better": metric.lower_is_better,
        },
    )
    study_report.write_report(summary, study_dir)
    return summary


def learning_rate_factors(settings: StudySettings) -> list[float]:
    """The multipliers of the scaling rule's rate, one per trial, between
    ``1 / lr_spread`` and ``lr_spread``: a log grid (with 1 in the middle for an odd
    count), or the base-2 van der Corput sequence in log space (0, 1/2, 1/4, 3/4...: each
    added trial splits the widest gap, so a short search covers the range)."""
    n, spread = settings.trials, settings.lr_spread
    if settings.search == "grid":
        points = [0.5] if n == 1 else [i / (n - 1) for i in range(n)]
    else:
        points = [_van_der_corput(i) for i in range(n)]
    return [spread ** (2 * u - 1) for u in points]


def plan_trials(
    recipes: dict[str, ExperimentConfig], settings: StudySettings, study_dir: str
) -> list[Trial]:
    """Every trial of the study, checked (names, batches, data, the target): nothing is
    written.

    Raises:
        ValueError: no recipe, a recipe that cannot run at one of the batch sizes, a
            target metric its task does not report or a target it can never reach, or
            recipes whose tasks give different default target metrics.
    """
    if not recipes:
        raise ValueError("no recipe to study: give one or more flagfiles, e.g. --recipes=a.cfg")
    trials = []
    metrics: dict[str, TargetMetric] = {}
    for name, recipe in recipes.items():
        info = check_recipe(name, recipe)
        num_train = info.num_train
        metric = metrics[name] = target_metric(settings.target_metric, info.task)
        metric.check_target(settings.target)
        for batch in settings.batch_sizes:
            at_batch = _at_batch(name, recipe, batch, num_train)
            total = plan(at_batch, num_train, 1, info.tokens_per_example).total_steps
            for index, factor in enumerate(learning_rate_factors(settings)):
                config = at_batch.replace(
                    base_learning_rate=base_learning_rate(recipe) * factor,  # 0: resolved
                    model_dir=os.path.join(study_dir, name, f"b{batch}", f"t{index}"),
                    steps_per_loop=max(1, round(total / settings.evals_per_run)),
                    eval_every_loops=1,
                    resume=True,
                    verbose=0,
                )
                trials.append(Trial(name, batch, index, factor, config, metric))
    if len(set(metrics.values())) > 1:
        chosen = ", ".join(f"{name}: {m.name}" for name, m in metrics.items())
        raise ValueError(
            f"the recipes are measured on different eval metrics ({chosen}): name one "
            "with --target_metric, or study them separately"
        )
    return trials


def run_trials(
    trials: Sequence[Trial],
    settings: StudySettings,
    progress: Callable[[str], None] = logging.info,
) -> list[dict[str, Any]]:
    """Runs the trials not finished yet (``settings.parallel`` at a time); returns every
    trial's record, in the order of ``trials``.

    Raises:
        ValueError: a trial the trainer refused (bad input; its message), a study folder
            holding trials of other settings, or a trial that crashed.
    """
    records: dict[int, dict[str, Any]] = {}
    todo = []
    for position, trial in enumerate(trials):
        record = finished_record(trial, settings.target)
        if record is None:
            todo.append(position)
        else:
            records[position] = record
    if records:
        progress(f"{len(records)} of {len(trials)} trials already finished; skipping them")
    started = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(max_workers=settings.parallel) as pool:
        futures = {pool.submit(run_trial, trials[p], settings.target): p for p in todo}
        for done, future in enumerate(concurrent.futures.as_completed(futures), start=1):
            position = futures[future]
            records[position] = future.result()
            elapsed = time.perf_counter() - started
            left = elapsed / done * (len(todo) - done)
            progress(_progress_line(records[position], done, len(todo), left))
    return [records[p] for p in range(len(trials))]


def run_trial(trial: Trial, target: float) -> dict[str, Any]:
    """Trains ``trial`` in a process of its own (resuming its backup if it was killed)
    and writes its record; a NaN loss is a finished, diverged trial."""
    outcome = process.run_config(WORKER, trial.config, os.path.join(trial.directory, "process"))
    if outcome.returncode == process.EXIT_NON_FINITE:
        status, results = DIVERGED, {}
    elif outcome.returncode == 0 and outcome.answer is not None:
        status, results = DONE, outcome.answer
    else:
        raise ValueError(
            f"trial {trial.directory} failed (exit status {outcome.returncode}): "
            f"{outcome.message()}"
        )
    record = _record(trial, status, results, target)
    atomic.write_text(os.path.join(trial.directory, TRIAL_FILE), json.dumps(record, indent=2))
    return record


def finished_record(trial: Trial, target: float) -> dict[str, Any] | None:
    """The record of ``trial`` if it has finished, else None; its steps to the target
    read again from its eval curve (the study's target may have changed since).

    Raises:
        ValueError: the folder holds a finished trial of another config.
    """
    path = os.path.join(trial.directory, TRIAL_FILE)
    if not os.path.exists(path):
        return None
    with open(path) as f:
        record = json.load(f)
    if record["config"] != trial.config.to_dict():
        raise ValueError(
            f"{trial.directory} holds a trial of other settings: use a new --model_dir for "
            "this study, or the settings it was started with"
        )
    return {**record, **_to_target(trial, record["status"], record, target)}


def first_step_reaching(
    curve: dict[int, float], target: float, metric: TargetMetric | None = None
) -> int | None:
    """The first evaluated step whose value reaches ``target`` in ``metric``'s direction
    (at or above it for an accuracy, the default; at or below for a loss); None if none."""
    metric = metric or target_metric("eval_accuracy", data.CLASSIFICATION)
    reached = [step for step, value in sorted(curve.items()) if metric.reached(value, target)]
    return reached[0] if reached else None


def _record(trial: Trial, status: str, results: dict[str, Any], target: float) -> dict[str, Any]:
    """What the study keeps of a trial: its settings, results and steps to the target."""
    return {
        "recipe": trial.recipe,
        "batch_size": trial.batch_size,
        "trial": trial.index,
        "lr_factor": trial.lr_factor,
        "learning_rate": peak_learning_rate(trial.config),
        "status": status,
        "steps": results.get("steps"),
        "eval_accuracy": results.get("eval_accuracy"),
        "eval_loss": results.get("eval_loss"),
        "eval_bits_per_byte": results.get("eval_bits_per_byte"),
        "train_accuracy": results.get("train_accuracy"),
        "wall_seconds": results.get("wall_seconds"),
        **_to_target(trial, status, results, target),
        "config": trial.config.to_dict(),
    }


def _to_target(trial: Trial, status: str, results: dict[str, Any], target: float) -> dict:
    """A trial's target metric, its eval curve and the steps, examples and time to
    ``target`` (read from the trial's eval event files)."""
    metric, logs = trial.metric, os.path.join(trial.directory, "logs")
    curve = read_scalars(os.path.join(logs, "eval"), metric.tag) if status == DONE else {}
    steps = first_step_reaching(curve, target, metric)
    fields = {
        "target_metric": metric.name,
        "lower_is_better": metric.lower_is_better,
        "steps_to_target": steps,
        "examples_to_target": None,
        "seconds_to_target": None,
        "b_simple_at_target": None,
        "target_metric_curve": {str(k): v for k, v in sorted(curve.items())},
    }
    if steps is not None:
        fields["examples_to_target"] = steps * effective_batch_size(trial.config)
        # Training time to the target, prorated (the evaluations not counted).
        fields["seconds_to_target"] = results["wall_seconds"] * steps / results["steps"]
        fields["b_simple_at_target"] = _b_simple_at(os.path.join(logs, "train"), steps)
    return fields


def _b_simple_at(train_logs: str, step: int) -> float | None:
    """The last measured noise scale at or before ``step``, if the trial measured it."""
    values = read_scalars(train_logs, "noise_scale/b_simple")
    before = [values[s] for s in sorted(values) if s <= step]
    return before[-1] if before else None


def check_recipe(name: str, recipe: ExperimentConfig) -> data.DatasetInfo:
    """The recipe's dataset info, after checking its model, optimizer and data."""
    try:
        models.MODELS.factory(recipe.model)
        optimizers.OPTIMIZERS.factory(base_optimizer_name(recipe))
        source = data.get(
            recipe.dataset, data_dir=recipe.data_dir or None, **recipe.dataset_options
        )
    except (ValueError, TypeError) as error:
        raise ValueError(f"recipe {name}: {error}") from None
    return source.info


def _at_batch(name: str, recipe: ExperimentConfig, batch: int, num_train: int) -> ExperimentConfig:
    """``recipe`` at the effective batch ``batch``: with gradient accumulation, global
    batches of ``batch / accumulation_steps``."""
    micro_batches = accumulation_steps(recipe)
    if batch % micro_batches:
        raise ValueError(
            f"recipe {name}: batch {batch} does not split into its {micro_batches} "
            "accumulation steps: choose batch sizes that are multiples of it"
        )
    if batch > num_train:
        raise ValueError(
            f"recipe {name}: batch {batch} is larger than the {num_train} training examples: "
            "drop it from --batch_sizes"
        )
    return recipe.replace(global_batch_size=batch // micro_batches)


def _progress_line(record: dict[str, Any], done: int, total: int, seconds_left: float) -> str:
    reached, metric = record["steps_to_target"], record["target_metric"]
    outcome = (
        "diverged"
        if record["status"] == DIVERGED
        else f"{metric} {record[metric]:.4f}, "
        + (f"target at step {reached}" if reached is not None else "target not reached")
    )
    return (
        f"[{done}/{total}] {record['recipe']} batch {record['batch_size']} trial "
        f"{record['trial']} (lr {record['learning_rate']:.4g}): {outcome}; "
        f"about {_duration(seconds_left)} left"
    )


def _duration(seconds: float) -> str:
    return f"{seconds / 60:.0f} min" if seconds >= 90 else f"{seconds:.0f} s"


def _van_der_corput(i: int) -> float:
    value, denominator = 0.0, 1
    while i:
        denominator *= 2
        i, bit = divmod(i, 2)
        value += bit / denominator
    return value
