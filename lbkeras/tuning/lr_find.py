"""The learning-rate range test of an experiment config, and its report files.

:func:`lr_find` builds the strategy, the input, the model and the optimizer exactly as
the trainer does for a config (:func:`lbkeras.training.experiment.prepare` and
:func:`~lbkeras.training.experiment.build`), runs :func:`~lbkeras.tuning.lr_range.
lr_range_test` at the config's global batch, and writes into its output folder::

    lr_find.json   the settings, the config, the curve (rates, raw and smoothed losses),
                   the suggestions, the recommended rate and the flags to paste
    lr_find.csv    lr, loss, smoothed_loss: one row per step
    lr_find.png    the curve (log rate axis), every suggestion, the blow-up point

The flags to paste, ``--base_learning_rate=R --base_batch_size=B``, make the trainer's
peak rate ``R`` at the batch ``B`` the test ran at (the effective batch, accumulation
included); with ``--lr_scaling`` it scales from there to other batches.

Example:
    >>> import tempfile
    >>> from lbkeras.training import ExperimentConfig
    >>> folder = tempfile.mkdtemp()
    >>> config = ExperimentConfig(model="mlp", model_options={"hidden_units": [16]},
    ...     dataset="synthetic", dataset_options={"input_shape": [8], "num_classes": 2,
    ...     "num_train": 512, "num_eval": 64}, global_batch_size=32, optimizer="sgd")
    >>> test = lr_find(config, RangeTestSettings(min_lr=1e-4, num_steps=30), folder)
    >>> sorted(os.listdir(folder))
    ['lr_find.csv', 'lr_find.json', 'lr_find.png']
    >>> paste_flags(test, config)[1]
    '--base_batch_size=32'
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import os
from typing import Any

import numpy as np

from lbkeras.atomic import save_atomically, write_text
from lbkeras.optimizers.wrapper import chain
from lbkeras.training.config import ExperimentConfig, setting
from lbkeras.training.experiment import build, prepare
from lbkeras.training.precision import mixed_precision
from lbkeras.training.recipe import effective_batch_size
from lbkeras.tuning.lr_range import (
    MODES,
    SUGGESTIONS,
    RangeTest,
    check_settings,
    lr_range_test,
)

JSON_FILE, CSV_FILE, PLOT_FILE = "lr_find.json", "lr_find.csv", "lr_find.png"


@dataclasses.dataclass(frozen=True)
class RangeTestSettings:
    """The settings of one range test (the flags of ``lbkeras-lr-find``)."""

    min_lr: float = setting(1e-7, "Learning rate of the range test's first step.")
    max_lr: float = setting(10.0, "Learning rate of the range test's last step.")
    num_steps: int = setting(100, "Most steps of the range test (it stops at the blow-up).")
    mode: str = setting("exponential", "How the rate grows from step to step.", choices=MODES)
    smoothing: float = setting(0.98, "Factor b of the debiased moving average of the loss.")
    stop_factor: float = setting(
        4.0, "Stop once the smoothed loss exceeds this times the best one so far."
    )
    skip_start: float = setting(
        0.1, "Fraction of the first points the steepest and valley suggestions skip."
    )
    recommend: str = setting(
        "valley", "The suggestion to recommend (and paste).", choices=SUGGESTIONS
    )

    def __post_init__(self) -> None:
        check_settings(**dataclasses.asdict(self))


def lr_find(config: ExperimentConfig, settings: RangeTestSettings, output_dir: str) -> RangeTest:
    """Runs the range test of ``config`` at its global batch; writes its files to ``output_dir``.

    The model, optimizer (its chain of wrappers, weight decay, momentum...) and input are
    the trainer's for ``config``; only the rate is the ramp's. Nothing is written before
    the test has run (only the chief writes, under a strategy with several workers).

    Raises:
        ValueError: as :func:`lbkeras.training.experiment.prepare` (a bad config, missing
            data), or as :func:`~lbkeras.tuning.lr_range.lr_range_test`.
    """
    prepared = prepare(config.replace(model_dir=output_dir))
    config = prepared.config
    # From a fresh model, with input for the whole test (the trainer's lasts its own run).
    steps = dataclasses.replace(
        prepared.plan, total_steps=max(prepared.plan.total_steps, settings.num_steps)
    )
    prepared = dataclasses.replace(prepared, plan=steps, initial_loop=0)
    with mixed_precision(config.mixed_precision):
        model, train_data, _ = build(prepared)
        test = lr_range_test(model, train_data, **dataclasses.asdict(settings))
    if prepared.outputs.is_chief:
        write_files(test, config, settings, output_dir, _optimizer_names(model.optimizer))
    return test


def paste_flags(test: RangeTest, config: ExperimentConfig) -> list[str]:
    """The trainer flags that make the recommended rate the peak at the tested batch."""
    return [
        f"--base_learning_rate={test.recommended_learning_rate:.3g}",
        f"--base_batch_size={effective_batch_size(config)}",
    ]


def write_files(
    test: RangeTest,
    config: ExperimentConfig,
    settings: RangeTestSettings,
    output_dir: str,
    optimizer: str = "",
) -> None:
    """Writes ``lr_find.json``, ``lr_find.csv`` and ``lr_find.png`` atomically."""
    os.makedirs(output_dir, exist_ok=True)
    report = {
        "settings": dataclasses.asdict(settings),
        "config": config.to_dict(),
        "global_batch_size": config.global_batch_size,
        "effective_batch_size": effective_batch_size(config),
        **test.to_dict(),
        "flags": paste_flags(test, config),
    }
    write_text(os.path.join(output_dir, JSON_FILE), json.dumps(report, indent=2) + "\n")
    rows = io.StringIO()
    writer = csv.writer(rows, lineterminator="\n")
    writer.writerow(["lr", "loss", "smoothed_loss"])
    writer.writerows(zip(test.lrs, test.losses, test.smoothed))
    write_text(os.path.join(output_dir, CSV_FILE), rows.getvalue())
    title = (
        f"{config.model} on {config.dataset}, {optimizer or config.optimizer}, "
        f"batch {effective_batch_size(config)}"
    )
    plot(test, os.path.join(output_dir, PLOT_FILE), title)


def plot(test: RangeTest, path: str, title: str) -> None:
    """Draws the range test into the PNG ``path``: raw and smoothed loss against the rate
    (log axis), each suggestion (the recommended one highlighted) and the blow-up."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    lrs, losses, smoothed = (
        np.array(v, dtype=np.float64) for v in (test.lrs, test.losses, test.smoothed)
    )
    figure, axes = plt.subplots(figsize=(8, 4.5), dpi=100)
    axes.plot(lrs, losses, color="tab:blue", alpha=0.3, linewidth=1, label="loss")
    axes.plot(lrs, smoothed, color="tab:blue", linewidth=2, label="smoothed loss")
    finite = np.isfinite(smoothed)
    colors = {"valley": "tab:green", "steepest": "tab:orange", "minimum/10": "tab:purple"}
    for name, lr in test.suggestions.items():
        recommended = name == test.recommended
        at = np.interp(np.log(lr), np.log(lrs[finite]), smoothed[finite])
        axes.plot(
            lr,
            at,
            marker="*" if recommended else "o",
            markersize=16 if recommended else 8,
            color="tab:red" if recommended else colors.get(name, "tab:gray"),
            linestyle="none",
            label=f"{name} {lr:.3g}" + (" (recommended)" if recommended else ""),
        )
    if test.diverged_at is not None:
        axes.axvline(test.diverged_at, color="tab:gray", linestyle="--", linewidth=1)
        axes.annotate(
            f"blow-up {test.diverged_at:.3g}",
            (test.diverged_at, 1),
            xycoords=("data", "axes fraction"),
            xytext=(-6, -14),
            textcoords="offset points",
            ha="right",
            fontsize=9,
            color="tab:gray",
        )
    shown = smoothed[finite]
    low, high = float(shown.min()), float(shown.max())
    margin = 0.05 * (high - low or abs(high) or 1.0)
    axes.set_ylim(low - margin, high + margin)  # the raw loss may explode at the end
    axes.set_xscale("log")
    axes.set_xlabel("learning rate")
    axes.set_ylabel("training loss")
    axes.grid(alpha=0.3, which="both")
    axes.legend(fontsize=9, loc="upper left")
    axes.set_title(f"Learning-rate range test: {title}", fontsize=10)
    figure.tight_layout()
    save_atomically(path, lambda tmp: figure.savefig(tmp, format="png"))
    plt.close(figure)


def _optimizer_names(optimizer: Any) -> str:
    """``"Lookahead > LAMB"``: the optimizer's chain, outermost first."""
    return " > ".join(type(member).__name__ for member in chain(optimizer))
