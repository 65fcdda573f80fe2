"""What the branched measurement found: a table and one chart of the critical batch.

:func:`write_report` writes the summary of :func:`lbkeras.tuning.critical_batch.measure`
as ``critical_batch.json``, ``critical_batch.md`` (one row per branch point: D, the
critical batch, B_simple at D and their ratio; then every branch's eval loss) and
``critical_batch.png``: the branched critical batch (``k x B``; an open marker where it
is the largest batch tried, so only a lower bound) and the base run's ``B_simple``
against examples seen, on one log axis, with the base batch as a line.

Example:
    >>> summary = {"base_batch_size": 64, "branch_examples": 512, "num_train": 1000,
    ...     "settings": {"tolerance": 0.01, "multipliers": [1, 2]}, "b_simple_curve": {},
    ...     "points": [{"examples": 640, "passes": 0.64, "critical_multiplier": 2,
    ...                 "critical_batch": 128, "at_largest": True, "b_simple": 32.0,
    ...                 "ratio": 4.0, "branches": [
    ...         {"multiplier": 1, "batch_size": 64, "steps": 8, "eval_loss": 1.0,
    ...          "status": "done", "keeps_up": True},
    ...         {"multiplier": 2, "batch_size": 128, "steps": 4, "eval_loss": 1.005,
    ...          "status": "done", "keeps_up": True}]}]}
    >>> print(markdown(summary).splitlines()[4])
    | 640 | 0.64 | 2 | >= 128 | 32 | >= 4 |
"""

from __future__ import annotations

import json
import os
from typing import Any

from lbkeras.atomic import save_atomically, write_text

FILES = ("critical_batch.json", "critical_batch.md", "critical_batch.png")


def write_report(summary: dict[str, Any], out_dir: str) -> None:
    """Writes :data:`FILES` into ``out_dir``."""
    json_path, md_path, png_path = (os.path.join(out_dir, name) for name in FILES)
    write_text(json_path, json.dumps(summary, indent=2))
    write_text(md_path, markdown(summary))
    plot(summary, png_path)


def markdown(summary: dict[str, Any]) -> str:
    """The points table, then the branches' losses."""
    batch, tolerance = summary["base_batch_size"], summary["settings"]["tolerance"]
    lines = [
        f"Branched critical batch (Merrill et al. 2025) from a base run at batch {batch}: "
        f"branches of {summary['branch_examples']} examples at k x {batch}; k keeps up "
        f"when its eval loss <= the k=1 branch's + {tolerance:g}.",
        "",
        "| examples D | passes | critical k | critical batch | B_simple at D | ratio |",
        "|---:|---:|---:|---:|---:|---:|",
    ]
    for point in summary["points"]:
        bound = ">= " if point["at_largest"] else ""
        lines.append(
            f"| {point['examples']} | {point['passes']:.3g} | {point['critical_multiplier']} | "
            f"{bound}{point['critical_batch']} | {_number(point['b_simple'])} | "
            f"{bound if point['ratio'] is not None else ''}{_number(point['ratio'])} |"
        )
    lines += ["", "| examples D | k | batch | steps | eval loss | keeps up |"]
    lines.append("|---:|---:|---:|---:|---:|:---|")
    for point in summary["points"]:
        for row in point["branches"]:
            loss = "diverged" if row["status"] == "diverged" else f"{row['eval_loss']:.4f}"
            lines.append(
                f"| {point['examples']} | {row['multiplier']} | {row['batch_size']} | "
                f"{row['steps']} | {loss} | {'yes' if row['keeps_up'] else 'no'} |"
            )
    return "\n".join(lines) + "\n"


def plot(summary: dict[str, Any], path: str) -> None:
    """The branched critical batch and B_simple against examples seen (log batch axis)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.ticker
    from matplotlib import pyplot as plt

    figure, axes = plt.subplots(figsize=(8, 5), dpi=100)
    curve = {int(examples): value for examples, value in summary["b_simple_curve"].items()}
    positive = sorted((x, v) for x, v in curve.items() if v > 0)
    if positive:
        axes.plot(*zip(*positive), color="tab:blue", lw=1, label="B_simple (base run, logged)")
    points = summary["points"]
    for bounded, marker, label in ((False, "o", ""), (True, "^", " (largest tried: >=)")):
        chosen = [p for p in points if p["at_largest"] == bounded]
        if chosen:
            axes.plot(
                [p["examples"] for p in chosen],
                [p["critical_batch"] for p in chosen],
                marker,
                ms=9,
                color="tab:red",
                mfc="none" if bounded else "tab:red",
                label=f"branched critical batch{label}",
            )
    measured = [(p["examples"], p["b_simple"]) for p in points if p["b_simple"]]
    if measured:
        axes.plot(*zip(*measured), "s", color="tab:blue", label="B_simple at the branch points")
    axes.axhline(summary["base_batch_size"], color="gray", ls="--", lw=1, label="base batch B")
    axes.set_yscale("log", base=2)
    axes.yaxis.set_major_formatter(matplotlib.ticker.ScalarFormatter())
    axes.set_xlabel("examples seen by the base run")
    axes.set_ylabel("batch size")
    axes.grid(alpha=0.3, which="both")
    axes.legend(fontsize=8)
    axes.set_title(
        f"Critical batch: branches of {summary['branch_examples']} examples at k x "
        f"{summary['base_batch_size']} (tolerance {summary['settings']['tolerance']:g} in "
        "eval loss) vs B_simple",
        fontsize=9,
    )
    figure.tight_layout()
    save_atomically(path, lambda tmp: figure.savefig(tmp, format="png"))
    plt.close(figure)


def _number(value: float | None) -> str:
    return "-" if value is None else f"{value:.3g}"
