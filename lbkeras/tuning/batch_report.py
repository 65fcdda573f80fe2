"""The batch-size finder's report: its table, JSON, CSV and plot.

:func:`write` puts three files into the output folder, each atomically (complete or
absent):

* ``batch_find.json``: the settings, the config, every trial and the answer
  (``largest_fitting``, ``recommended_max``, ``chosen``, ``granularity``, ``capped_at``);
  NaN is written as null.
* ``batch_find.csv``: one row per size tried, in the order tried.
* ``batch_find.png``: examples per second and step time against the batch size (log2
  axis), sizes that did not fit marked on the axis, the chosen size and the
  recommended maximum as vertical lines.

References:
    Godbole et al., "Deep Learning Tuning Playbook", 2023, "Choosing the batch size":
    plot the training throughput against the batch size and look where it stops rising.

Example:
    >>> from lbkeras.tuning.batch_finder import Trial
    >>> print(format_table([Trial(64, "fits", 1000.0, 0.064), Trial(128, "out_of_memory")],
    ...                    recommended_max=64, chosen=64))
     batch  result          examples/s  step (s)
        64  fits                  1000    0.0640  <- chosen, recommended max
       128  out of memory            -         -
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import math
import os
from typing import Any

from lbkeras.atomic import save_atomically, write_text

JSON_FILE, CSV_FILE, PLOT_FILE = "batch_find.json", "batch_find.csv", "batch_find.png"
CSV_COLUMNS = ("global_batch_size", "status", "examples_per_second", "step_seconds", "seconds")


def format_table(trials: list, recommended_max: int | None, chosen: int | None) -> str:
    """The trials as a text table, in order of size, the chosen size and maximum marked."""
    lines = [f"{'batch':>6}  {'result':<14}  {'examples/s':>10}  {'step (s)':>8}"]
    for trial in sorted(trials, key=lambda t: t.global_batch_size):
        marks = [
            name
            for name, size in (("chosen", chosen), ("recommended max", recommended_max))
            if size == trial.global_batch_size
        ]
        speed = f"{trial.examples_per_second:>10.0f}" if trial.fits else f"{'-':>10}"
        step = f"{trial.step_seconds:>8.4f}" if trial.fits else f"{'-':>8}"
        line = (
            f"{trial.global_batch_size:>6}  {trial.status.replace('_', ' '):<14}  {speed}  {step}"
        )
        lines.append(line + (f"  <- {', '.join(marks)}" if marks else ""))
    return "\n".join(lines)


def describe(trial: Any) -> str:
    """One line of progress: ``batch 256: fits, 37951 examples/s, 0.0067 s/step (11 s)``."""
    speed = (
        f", {trial.examples_per_second:.0f} examples/s, {trial.step_seconds:.4g} s/step"
        if trial.fits
        else f": {trial.message}"
        if trial.message
        else ""
    )
    return (
        f"batch {trial.global_batch_size}: {trial.status.replace('_', ' ')}{speed} "
        f"({trial.seconds:.0f} s)"
    )


def to_json(search: Any) -> dict[str, Any]:
    """Everything :func:`write` puts into ``batch_find.json`` (NaN as None)."""
    return {
        "settings": dataclasses.asdict(search.settings),
        "config": search.config.to_dict(),
        "trials": [_finite(dataclasses.asdict(trial)) for trial in search.trials],
        "largest_fitting": search.largest_fitting,
        "recommended_max": search.recommended_max,
        "chosen": search.chosen,
        "granularity": search.granularity,
        "capped_at": search.capped_at,
    }


def write(search: Any, output_dir: str) -> None:
    """Writes the JSON, CSV and PNG of ``search`` (a BatchSearch) into ``output_dir``."""
    os.makedirs(output_dir, exist_ok=True)
    text = json.dumps(to_json(search), indent=2, sort_keys=True, allow_nan=False)
    write_text(os.path.join(output_dir, JSON_FILE), text + "\n")
    rows = io.StringIO()
    writer = csv.writer(rows, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for trial in search.trials:
        row = _finite(dataclasses.asdict(trial))
        writer.writerow(["" if row[key] is None else row[key] for key in CSV_COLUMNS])
    write_text(os.path.join(output_dir, CSV_FILE), rows.getvalue())
    plot(search, os.path.join(output_dir, PLOT_FILE))


def plot(search: Any, path: str) -> None:
    """Draws throughput and step time against the batch size into the PNG ``path``."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    fitting = sorted((t for t in search.trials if t.fits), key=lambda t: t.global_batch_size)
    failing = [t for t in search.trials if not t.fits]
    figure, speed_axes = plt.subplots(figsize=(8, 4.5), dpi=100)
    step_axes = speed_axes.twinx()
    sizes = [t.global_batch_size for t in fitting]
    speed_axes.plot(
        sizes, [t.examples_per_second for t in fitting], "o-", color="tab:blue", label="examples/s"
    )
    step_axes.plot(
        sizes, [t.step_seconds for t in fitting], "s--", color="tab:orange", label="step time"
    )
    for trial in failing:
        speed_axes.axvline(trial.global_batch_size, color="tab:red", alpha=0.25, linewidth=6)
    if failing:
        speed_axes.plot([], [], color="tab:red", alpha=0.25, linewidth=6, label="did not fit")
    for size, name, style in (
        (search.chosen, "chosen", "-"),
        (search.recommended_max, "recommended max", ":"),
    ):
        if size is not None:
            speed_axes.axvline(size, color="tab:green", linestyle=style, linewidth=1.5)
            speed_axes.plot([], [], color="tab:green", linestyle=style, label=f"{name} ({size})")
    speed_axes.set_xscale("log", base=2)
    speed_axes.set_xlabel("global batch size")
    speed_axes.set_ylabel("examples per second", color="tab:blue")
    step_axes.set_ylabel("seconds per step", color="tab:orange")
    speed_axes.set_ylim(bottom=0)
    step_axes.set_ylim(bottom=0)
    speed_axes.grid(alpha=0.3)
    handles, labels = speed_axes.get_legend_handles_labels()
    step_handles, step_labels = step_axes.get_legend_handles_labels()
    speed_axes.legend(handles + step_handles, labels + step_labels, loc="upper left", fontsize=9)
    speed_axes.set_title(
        f"{search.config.model} on {search.config.dataset}: {len(search.trials)} sizes tried",
        fontsize=10,
    )
    figure.tight_layout()
    save_atomically(path, lambda tmp: figure.savefig(tmp, format="png"))
    plt.close(figure)


def _finite(row: dict[str, Any]) -> dict[str, Any]:
    return {k: None if isinstance(v, float) and not math.isfinite(v) else v for k, v in row.items()}
