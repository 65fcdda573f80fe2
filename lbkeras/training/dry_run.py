"""A dry run: everything a run would do, resolved and shown, with nothing trained.

Large-batch recipes are easy to get subtly wrong (a warmup longer than intended, a
peak rate scaled by the wrong rule, a batch that splits unevenly over the replicas),
and the mistake shows only after the compute is spent. :func:`dry_run` resolves the
strategy, the replicas and per-replica batch, the plan (steps, passes, loops, warmup)
and the schedule exactly as :func:`lbkeras.training.run` would, returns them, and
draws the learning rate of every step into ``model_dir/learning_rate.png``
(matplotlib), so that a user sees the schedule before paying for it. Under a batch
schedule the summary lists its stages, and the plot has a second panel: the rate and
the global batch against examples seen (the axis the schedules are keyed on), the batch
on the step axis beside the rate in the first. It writes nothing
else (no ``config.json``), so a real run may follow in the same model_dir.

Example:
    >>> import tempfile
    >>> folder = tempfile.mkdtemp()
    >>> summary = dry_run(ExperimentConfig(model_dir=folder, dataset="synthetic",
    ...     model="mlp", dataset_options={"input_shape": [8], "num_classes": 2,
    ...     "num_train": 1000, "num_eval": 100}, global_batch_size=100, epochs=10,
    ...     warmup_epochs=2))
    >>> summary["total_steps"], summary["warmup_steps"], summary["peak_learning_rate"]
    (100, 20, 0.390625)
    >>> os.listdir(folder)
    ['learning_rate.png']
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from lbkeras.atomic import save_atomically
from lbkeras.optimizers.wrapper import chain
from lbkeras.training.config import ExperimentConfig
from lbkeras.training.experiment import prepare
from lbkeras.training.plan import Plan
from lbkeras.training.recipe import build_optimizer

#: At most this many steps are drawn (evenly spaced, plus the warmup's end).
PLOT_POINTS = 2000


def dry_run(config: ExperimentConfig) -> dict[str, Any]:
    """Resolves ``config`` as a run would, plots its schedule, and returns the summary.

    Raises:
        ValueError: as :func:`lbkeras.training.prepare` (a dry run fails where the run
            would, before training).
    """
    prepared = prepare(config)
    steps = prepared.plan
    optimizer = build_optimizer(config, prepared.schedule)
    summary = {
        "strategy": type(prepared.strategy).__name__,
        "num_replicas": steps.num_replicas,
        "global_batch_size": config.global_batch_size,
        "per_replica_batch_size": steps.per_replica_batch_size,
        "accumulation_steps": steps.accumulation_steps,
        "effective_batch_size": steps.effective_batch_size,
        "num_train": prepared.source.info.num_train,
        "steps_per_pass": steps.steps_per_pass,
        "total_steps": steps.total_steps,
        "passes": steps.passes,
        "loops": steps.loops,
        "steps_per_loop": steps.steps_per_loop,
        "warmup_steps": steps.warmup_steps,
        "base_learning_rate": steps.base_learning_rate,
        "base_batch_size": config.base_batch_size,
        "peak_learning_rate": steps.peak_learning_rate,
        "first_learning_rate": float(prepared.schedule(0)),
        "final_learning_rate": float(prepared.schedule(steps.total_steps - 1)),
        "optimizer": " > ".join(type(member).__name__ for member in chain(optimizer)),
        "resumes_at_loop": prepared.initial_loop,
    }
    if steps.batch_size_schedule is not None:
        summary["examples"] = steps.examples_before(steps.total_steps)
        summary["batch_schedule"] = ", ".join(
            f"{s.batch_size} x {s.steps} (from step {s.first_step}, example {s.first_example})"
            for s in steps.stages
        )
    if prepared.outputs.is_chief:
        path = os.path.join(config.model_dir, "learning_rate.png")
        plot_learning_rate(prepared.schedule, steps, path, summary)
        summary["plot"] = path
    return summary


def plot_learning_rate(schedule: Any, steps: Plan, path: str, summary: dict[str, Any]) -> None:
    """Draws ``schedule`` over the plan's steps into the PNG ``path``; under a batch
    schedule, with the batch, and a second panel against examples seen."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    total_steps, warmup_steps = steps.total_steps, steps.warmup_steps
    count = min(total_steps, PLOT_POINTS)
    points = [np.linspace(0, total_steps - 1, count).round(), [warmup_steps, total_steps - 1]]
    points += [[s.first_step - 1, s.first_step] for s in steps.stages]  # both sides of a change
    drawn = np.unique(np.concatenate(points).astype(int))
    drawn = drawn[(drawn >= 0) & (drawn < total_steps)]
    rates = [float(schedule(int(step))) for step in drawn]
    panels = 2 if steps.scheduled else 1
    figure, all_axes = plt.subplots(panels, 1, figsize=(8, 4.5 * panels), dpi=100, squeeze=False)
    axes = all_axes[0, 0]
    axes.plot(drawn, rates, color="tab:blue", linewidth=1.8)
    if 0 < warmup_steps < total_steps:
        axes.axvline(warmup_steps, color="tab:gray", linestyle="--", linewidth=1)
        axes.annotate(
            f"end of warmup (step {warmup_steps})",
            (warmup_steps, max(rates)),
            xytext=(6, -14),
            textcoords="offset points",
            fontsize=9,
            color="tab:gray",
        )
    axes.set_xlabel("optimizer step")
    axes.set_ylabel("learning rate")
    axes.set_xlim(0, max(1, total_steps - 1))
    axes.set_ylim(bottom=0)
    axes.grid(alpha=0.3)
    batch = (
        f"batch {steps.stages[0].batch_size} to {summary['effective_batch_size']}"
        if steps.scheduled
        else f"batch {summary['effective_batch_size']}"
    )
    axes.set_title(
        f"{summary['optimizer']}, {batch}: {summary['total_steps']} steps "
        f"({summary['passes']:.1f} passes), peak {summary['peak_learning_rate']:.4g}",
        fontsize=10,
    )
    if steps.scheduled:
        batches = [steps.stage_at(int(step)).batch_size for step in drawn]
        _draw_batch(axes, drawn, batches)
        examples = [steps.examples_before(int(step)) for step in drawn]
        _draw_against_examples(all_axes[1, 0], examples, rates, batches)
    figure.tight_layout()
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    save_atomically(path, lambda tmp: figure.savefig(tmp, format="png"))
    plt.close(figure)


def _draw_batch(axes: Any, x: Any, batches: list[int]) -> None:
    """The global batch as steps on a right-hand axis of ``axes``."""
    right = axes.twinx()
    right.step(x, batches, where="post", color="tab:orange", linewidth=1.5)
    right.set_ylabel("global batch", color="tab:orange")
    right.set_ylim(0, max(batches) * 1.1)


def _draw_against_examples(axes: Any, examples: list[int], rates: list[float], batches) -> None:
    """The rate and the batch against examples seen: the axis the schedules are keyed on."""
    axes.plot(examples, rates, color="tab:blue", linewidth=1.8)
    axes.set_xlabel("examples seen")
    axes.set_ylabel("learning rate")
    axes.set_xlim(0, max(1, examples[-1]))
    axes.set_ylim(bottom=0)
    axes.grid(alpha=0.3)
    _draw_batch(axes, examples, batches)
    axes.set_title("against examples seen (warmup and decay are keyed on them)", fontsize=10)
