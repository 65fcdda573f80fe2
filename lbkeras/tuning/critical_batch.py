"""The critical batch measured directly: short branches at k x B from a base run's states.

Merrill, Arora, Groeneveld and Hajishirzi (2025) measure the critical batch without a
noise model: from a checkpoint of a run at batch ``B`` taken after ``D`` examples,
they train short branches at batches ``k x B`` (the learning rate transferred by the
batch-size rule) for the same number of examples ``Δ``, and call the largest batch
whose loss keeps up the critical batch at ``D``. Here:

* the **base run** is the config as given (one batch ``B``; ``--batch_schedule=constant``),
  trained once to its end; at the loop ends nearest ``branch_at`` passes its state
  (weights and optimizer, as the trainer backs them up) is kept in
  ``base/snapshots/loop-L/``;
* each **branch** ``(D, k)`` is a normal trainer run of the base config with the batch
  schedule ``steps: [[0, B], [D, k B]]`` (so its learning rate is the base run's
  warmup and decay in examples, transferred from ``B`` to ``k B`` by
  ``--lr_scaling``: :mod:`lbkeras.training.batch_schedule`) and
  ``--global_batch_size=k B``, resumed from the snapshot at ``D`` and stopped after
  ``D + Δ`` examples (``Δ`` rounded up to whole steps at the largest branch batch, so
  every branch trains on the same examples); its eval loss then is the branch's loss;
* the **criterion** (:func:`critical_multiplier`): branch ``k`` keeps up when its final
  eval loss is at most the ``k = 1`` branch's plus ``tolerance`` (Merrill et al.'s
  tolerance on the loss at equal examples, with the ``k = 1`` branch trained through
  the same code as the reference); the critical multiplier is the largest ``k`` that
  keeps up together with every smaller one, and the critical batch ``k x B``.

Beside it, the gradient noise scale ``B_simple`` the base run logs
(``noise_scale/b_simple``, when ``--monitor_every_steps`` is set and a step has 2 or
more small-batch gradients: ``--strategy=mirrored --devices=2``; gradient accumulation
cannot be combined with the branches' batch schedule) at the same steps, and the ratio.

Every run is a trainer run in a process of its own (:mod:`lbkeras.tuning.process`,
worker :mod:`lbkeras.tuning.branch`). A branch is finished when its ``branch.json`` is
written; rerunning the measurement skips finished runs and restarts the others from
their snapshot. :mod:`lbkeras.tuning.critical_batch_report` writes the table and plot.

References:
    Merrill, Arora, Groeneveld, Hajishirzi, "Critical Batch Size Revisited: A Simple
    Empirical Approach to Large-Batch Language Model Training", arXiv 2505.23971, 2025.
    McCandlish, Kaplan, Amodei et al., "An Empirical Model of Large-Batch Training",
    arXiv 1812.06162, 2018 (B_simple).

Example:
    >>> config = ExperimentConfig(model="mlp", dataset="synthetic", global_batch_size=16,
    ...     dataset_options={"num_train": 256}, epochs=3, steps_per_loop=4, warmup_epochs=0.5)
    >>> settings = CriticalBatchSettings(branch_at=(0.5, 1.5), multipliers=(1, 4),
    ...                                  branch_passes=0.25)
    >>> plan = plan_branches(config, settings, "measurement")  # writes nothing
    >>> plan.points, plan.branch_examples  # D: ends of loops 2 and 6; Δ
    ((128, 384), 64)
    >>> [(b.examples, b.batch_size, b.first_step, b.stop_step) for b in plan.branches]
    [(128, 16, 8, 12), (128, 64, 8, 9), (384, 16, 24, 28), (384, 64, 24, 25)]
    >>> plan.branches[1].config.batch_schedule_options
    {'changes': [[0, 16], [128, 64]]}
    >>> critical_multiplier({1: 0.50, 2: 0.505, 4: 0.52, 8: 0.70}, tolerance=0.01)
    2
    >>> critical_multiplier({1: 0.50, 2: 0.60, 4: 0.50}, tolerance=0.01)  # 2 fails first
    1
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import os
import shutil
import tempfile
from collections.abc import Callable, Mapping
from typing import Any

from lbkeras import atomic
from lbkeras.checks import check_float, check_int
from lbkeras.monitoring.events import read_scalars
from lbkeras.training.config import ExperimentConfig, setting
from lbkeras.training.plan import Plan, plan
from lbkeras.training.recipe import accumulation_steps
from lbkeras.tuning import process
from lbkeras.tuning.branch import JOB_FILE, WORKER
from lbkeras.tuning.study import DIVERGED, DONE, check_recipe

RECORD_FILE = "branch.json"
NOISE_TAG = "noise_scale/b_simple"


@dataclasses.dataclass(frozen=True)
class CriticalBatchSettings:
    """Where and how to branch (every field a flag of ``lbkeras-critical-batch``)."""

    branch_at: tuple[float, ...] = setting(
        (2.0, 6.0, 12.0),
        "Where to branch, in passes over the training data of the base run; each is moved "
        "to the nearest loop end (--steps_per_loop), where the base run's state is kept.",
    )
    multipliers: tuple[int, ...] = setting(
        (1, 2, 4, 8), "k: branches train at k x the base batch; 1 (the reference) is required."
    )
    branch_passes: float = setting(
        1.0,
        "Examples each branch trains (Δ), in passes; rounded up to whole steps at the "
        "largest branch batch, so that every branch trains on the same examples.",
    )
    tolerance: float = setting(
        0.01,
        "ε: a branch keeps up when its final eval loss is at most the k=1 branch's + ε "
        "(Merrill et al. 2025).",
    )

    def __post_init__(self):
        if not self.branch_at:
            raise ValueError("branch_at is empty: give one or more points, e.g. --branch_at=2,6")
        for point in self.branch_at:
            check_float("branch_at", point, positive=True)
        if list(self.branch_at) != sorted(set(self.branch_at)):
            raise ValueError(f"branch_at must be increasing, got {list(self.branch_at)}")
        for k in self.multipliers:
            check_int("multipliers", k, positive=True)
        if list(self.multipliers) != sorted(set(self.multipliers)) or 1 not in self.multipliers:
            raise ValueError(
                f"multipliers={list(self.multipliers)}: give increasing integers starting at "
                "1 (the base batch, the reference), e.g. --multipliers=1,2,4,8"
            )
        check_float("branch_passes", self.branch_passes, positive=True)
        check_float("tolerance", self.tolerance)


@dataclasses.dataclass(frozen=True)
class Branch:
    """One planned branch: from ``examples`` (D) at ``multiplier`` x the base batch."""

    examples: int
    multiplier: int
    batch_size: int
    #: The optimizer step at D (the base run's) and the one after which the branch stops.
    first_step: int
    stop_step: int
    config: ExperimentConfig


@dataclasses.dataclass(frozen=True)
class BranchPlan:
    """The base run and every branch, checked; nothing written yet."""

    base: ExperimentConfig
    base_plan: Plan
    #: D of each point (examples) and the base run's loop that ends there.
    points: tuple[int, ...]
    loops: tuple[int, ...]
    #: Δ: examples each branch trains.
    branch_examples: int
    branches: tuple[Branch, ...]

    @property
    def batch_size(self) -> int:
        return self.base_plan.effective_batch_size

    def snapshot_dir(self, loop: int) -> str:
        return os.path.join(self.base.model_dir, "snapshots", f"loop-{loop:06d}")


def critical_multiplier(losses: Mapping[int, float], tolerance: float) -> int:
    """The largest ``k`` whose loss, and every smaller ``k``'s, is at most the ``k = 1``
    loss plus ``tolerance``; a NaN or infinite loss (a diverged branch) never keeps up.

    Raises:
        ValueError: no loss for ``k = 1`` (or it is not finite).
    """
    reference = losses.get(1, math.nan)
    if not math.isfinite(reference):
        raise ValueError(f"the k=1 branch has no finite loss ({reference}): nothing to compare")
    critical = 1
    for k in sorted(losses):
        if k > 1:
            if not (math.isfinite(losses[k]) and losses[k] <= reference + tolerance):
                break
            critical = k
    return critical


def bound(point: Mapping[str, Any]) -> str:
    """What a summary point's ``critical_batch`` says of the critical batch: ``"at least"``
    (the largest branch kept up), ``"at most"`` (only the base batch did: twice it did not),
    or ``"between"`` (it kept up and twice it did not).

    Example:
        >>> bound({"critical_multiplier": 1, "at_largest": False})
        'at most'
    """
    if point["at_largest"]:
        return "at least"
    return "at most" if point["critical_multiplier"] == 1 else "between"


def plan_branches(
    config: ExperimentConfig, settings: CriticalBatchSettings, out_dir: str
) -> BranchPlan:
    """The base run in ``out_dir/base`` and the branches in ``out_dir/D{examples}/k{k}``.

    Raises:
        ValueError: a config with a batch schedule or gradient accumulation, bad names
            or data (the trainer's messages), a point that is not inside the run, two
            points on one loop end, a branch batch the trainer refuses.
    """
    if config.batch_schedule != "constant":
        raise ValueError(
            f"the base run has --batch_schedule={config.batch_schedule}: the branches change "
            "the batch themselves; measure a run with one batch (--batch_schedule=constant)"
        )
    if accumulation_steps(config) > 1:
        raise ValueError(
            "gradient accumulation cannot be combined with the branches' batch schedule: for "
            "the noise scale use several replicas instead (--strategy=mirrored --devices=2)"
        )
    info = check_recipe("base", config)
    num_train, replicas = info.num_train, _replicas(config)
    base = config.replace(
        model_dir=os.path.join(out_dir, "base"), resume=True, verbose=0, batch_schedule_options={}
    )
    base_plan = plan(base, num_train, replicas, info.tokens_per_example)
    base = base.replace(steps_per_loop=base_plan.steps_per_loop)
    batch, per_loop = base_plan.effective_batch_size, base_plan.steps_per_loop
    largest = max(settings.multipliers) * batch
    delta = math.ceil(settings.branch_passes * num_train / largest) * largest
    end = base_plan.examples_before(base_plan.total_steps)
    loops = []
    for passes in settings.branch_at:
        loop = max(1, round(passes * num_train / (per_loop * batch)))
        if loops and loop == loops[-1]:
            raise ValueError(
                f"branch_at {passes:g} passes lands on loop {loop}, as the point before it "
                "does: spread the points, or give a smaller --steps_per_loop"
            )
        if loop * per_loop * batch + delta > end:
            raise ValueError(
                f"branch_at {passes:g} passes: the branches would end after {end} examples, "
                f"the end of the run ({loop * per_loop * batch} + {delta}): branch earlier, "
                "or give a smaller --branch_passes"
            )
        loops.append(loop)
    points = tuple(loop * per_loop * batch for loop in loops)
    branches = []
    for point in points:
        for k in settings.multipliers:
            branches.append(_branch(base, point, k, batch, delta, num_train, replicas, info))
    return BranchPlan(base, base_plan, points, tuple(loops), delta, tuple(branches))


def _branch(base, point, k, batch, delta, num_train, replicas, info) -> Branch:
    changes = [[0, batch]] + ([[point, k * batch]] if k > 1 else [])
    config = base.replace(
        model_dir=os.path.join(os.path.dirname(base.model_dir), f"D{point}", f"k{k}"),
        batch_schedule="steps",
        batch_schedule_options={"changes": changes},
        global_batch_size=k * batch,
        eval_every_loops=0,
    )
    try:
        steps = plan(config, num_train, replicas, info.tokens_per_example)
    except ValueError as error:
        raise ValueError(f"the branch at {k} x {batch} from {point} examples: {error}") from None
    first = point // batch
    stop = first + delta // (k * batch)
    if stop > steps.total_steps or steps.examples_before(stop) != point + delta:
        raise ValueError(
            f"the branch at {k} x {batch} from {point} examples does not end at "
            f"{point + delta} examples within the run: branch earlier"
        )
    return Branch(point, k, k * batch, first, stop, config)


def measure(
    config: ExperimentConfig,
    settings: CriticalBatchSettings,
    out_dir: str,
    progress: Callable[[str], None] = logging.info,
) -> dict[str, Any]:
    """Plans, trains the base run and the branches (skipping finished ones), and writes
    ``critical_batch.json``, ``.md`` and ``.png`` into ``out_dir``; returns the summary.

    Raises:
        ValueError: bad input (before anything is written), or a run that failed.
    """
    from lbkeras.tuning import critical_batch_report

    branch_plan = plan_branches(config, settings, out_dir)
    os.makedirs(out_dir, exist_ok=True)
    run_base(branch_plan, progress)
    records = []
    for number, branch in enumerate(branch_plan.branches, start=1):
        records.append(run_branch(branch_plan, branch))
        progress(_progress_line(records[-1], number, len(branch_plan.branches)))
    summary = summarize(branch_plan, settings, records)
    critical_batch_report.write_report(summary, out_dir)
    return summary


def run_base(branch_plan: BranchPlan, progress: Callable[[str], None] = logging.info) -> None:
    """Trains the base run to its end, keeping its state at every branch point.

    Raises:
        ValueError: the run failed, or finished without a snapshot (another run in the
            folder).
    """
    base = branch_plan.base
    snapshots = {loop: branch_plan.snapshot_dir(loop) for loop in branch_plan.loops}
    if os.path.exists(os.path.join(base.model_dir, "results.json")) and all(
        map(os.path.isdir, snapshots.values())
    ):
        progress(f"the base run in {base.model_dir} is complete; not training it again")
        return
    _run(base, {"snapshots": {str(loop): path for loop, path in snapshots.items()}})
    missing = [loop for loop, path in snapshots.items() if not os.path.isdir(path)]
    if missing:
        raise ValueError(
            f"the base run in {base.model_dir} ended without its state at loops {missing}: "
            "it was trained before by another command; use a new --model_dir"
        )
    progress(f"base run at batch {branch_plan.batch_size} trained in {base.model_dir}")


def run_branch(branch_plan: BranchPlan, branch: Branch) -> dict[str, Any]:
    """Trains ``branch`` from its snapshot (unless its record says it has finished) and
    returns its record.

    Raises:
        ValueError: the branch failed, or trained other examples than planned.
    """
    folder = branch.config.model_dir
    record_path = os.path.join(folder, RECORD_FILE)
    if os.path.exists(record_path):
        with open(record_path) as f:
            record = json.load(f)
        if record["config"] == branch.config.to_dict():
            return record
    shutil.rmtree(folder, ignore_errors=True)  # a branch killed half-way starts again
    loop = branch_plan.loops[branch_plan.points.index(branch.examples)]
    shutil.copytree(branch_plan.snapshot_dir(loop), os.path.join(folder, "backup"))
    status, results = _run(branch.config, {"stop_step": branch.stop_step})
    if status == DONE and results["examples"] != branch.examples + branch_plan.branch_examples:
        raise ValueError(
            f"the branch in {folder} trained to {results['examples']} examples, not "
            f"{branch.examples + branch_plan.branch_examples}"
        )
    record = {
        "examples": branch.examples,
        "multiplier": branch.multiplier,
        "batch_size": branch.batch_size,
        "status": status,
        "steps": branch.stop_step - branch.first_step,
        "eval_loss": results.get("eval_loss", math.inf),
        "eval_accuracy": results.get("eval_accuracy"),
        "config": branch.config.to_dict(),
    }
    atomic.write_text(record_path, json.dumps(record, indent=2))
    return record


def summarize(
    branch_plan: BranchPlan, settings: CriticalBatchSettings, records: list[dict[str, Any]]
) -> dict[str, Any]:
    """Per point: the branches' losses, the critical multiplier and batch, B_simple as the
    base run logged it at D, and their ratio; and the whole B_simple curve in examples."""
    batch, base_plan = branch_plan.batch_size, branch_plan.base_plan
    noise = read_scalars(os.path.join(branch_plan.base.model_dir, "logs", "train"), NOISE_TAG)
    points = []
    for point in branch_plan.points:
        rows = [r for r in records if r["examples"] == point]
        losses = {r["multiplier"]: r["eval_loss"] for r in rows}
        reference = losses[1]
        for row in rows:
            row["keeps_up"] = row["eval_loss"] <= reference + settings.tolerance
        k = critical_multiplier(losses, settings.tolerance)
        logged = [noise[s] for s in sorted(noise) if s <= point // batch]
        b_simple = logged[-1] if logged else None
        points.append(
            {
                "examples": point,
                "passes": point / base_plan.num_train,
                "critical_multiplier": k,
                "critical_batch": k * batch,
                "at_largest": k == max(settings.multipliers),
                "b_simple": b_simple,
                "ratio": k * batch / b_simple if b_simple else None,
                "branches": [{key: r[key] for key in r if key != "config"} for r in rows],
            }
        )
    return {
        "settings": dataclasses.asdict(settings),
        "base_batch_size": batch,
        "branch_examples": branch_plan.branch_examples,
        "num_train": base_plan.num_train,
        "base_model_dir": branch_plan.base.model_dir,
        "points": points,
        "b_simple_curve": {
            str(base_plan.examples_before(step)): value for step, value in sorted(noise.items())
        },
    }


def point_model(out_dir: str, examples: int) -> tuple[Any, Any]:
    """The base run's model as it was at the point ``examples`` (D) of a measurement in
    ``out_dir``, and its data source: the snapshot restored through the trainer into a
    scratch folder (the measurement is left as it is). For looking at a point afterwards,
    e.g. its exact noise scale (:mod:`lbkeras.analysis.noise_scale`).

    Raises:
        FileNotFoundError: no finished base run in ``out_dir``, or no snapshot at ``examples``.
    """
    from lbkeras.training import experiment

    base_dir = os.path.join(out_dir, "base")
    config_path = os.path.join(base_dir, "config.json")
    if not os.path.isfile(config_path):
        raise FileNotFoundError(f"no base run in {out_dir}: run the measurement first")
    with open(config_path) as f:
        config = ExperimentConfig.from_json(f.read())
    base_plan = plan(config, check_recipe("base", config).num_train, _replicas(config))
    loop, rest = divmod(examples, base_plan.steps_per_loop * base_plan.effective_batch_size)
    snapshot = os.path.join(base_dir, "snapshots", f"loop-{loop:06d}")
    if rest or not os.path.isdir(snapshot):
        raise FileNotFoundError(f"no snapshot of the base run after {examples} examples")
    scratch = tempfile.mkdtemp(prefix="lbkeras-point-")
    try:
        shutil.copytree(snapshot, os.path.join(scratch, "backup"))
        # On one device: the weights are the same, and a MirroredStrategy built here
        # would stay in the caller's process.
        one_device = config.replace(model_dir=scratch, strategy="default", devices=())
        atomic.write_text(os.path.join(scratch, "config.json"), one_device.to_json())
        prepared = experiment.prepare(one_device)
        model, _, _ = experiment.build(prepared)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return model, prepared.source


def _run(config: ExperimentConfig, job: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """Trains ``config`` in a process of its own, with the branch worker's ``job``."""
    os.makedirs(config.model_dir, exist_ok=True)
    atomic.write_text(os.path.join(config.model_dir, JOB_FILE), json.dumps(job))
    outcome = process.run_config(WORKER, config, os.path.join(config.model_dir, "process"))
    if outcome.returncode == process.EXIT_NON_FINITE:
        return DIVERGED, {}
    if outcome.returncode == 0 and outcome.answer is not None:
        return DONE, outcome.answer
    raise ValueError(
        f"the run in {config.model_dir} failed (exit status {outcome.returncode}): "
        f"{outcome.message()}"
    )


def _replicas(config: ExperimentConfig) -> int:
    """The replicas a config asks for when that is known without starting TensorFlow
    (``--devices=N`` or a list of names for ``mirrored``); else 1 (the trainer checks)."""
    if config.strategy != "mirrored" or not config.devices:
        return 1
    if len(config.devices) == 1 and config.devices[0].isdigit():
        return int(config.devices[0])
    return len(config.devices)


def _progress_line(record: dict[str, Any], done: int, total: int) -> str:
    outcome = "diverged" if record["status"] == DIVERGED else f"eval loss {record['eval_loss']:.4f}"
    return (
        f"[{done}/{total}] from {record['examples']} examples at {record['multiplier']} x "
        f"(batch {record['batch_size']}, {record['steps']} steps): {outcome}"
    )
