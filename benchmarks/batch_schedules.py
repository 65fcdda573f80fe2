"""Steps against test accuracy for every MNIST-1D recipe: fixed batches and batch schedules.

Reads the claims the recipes state (``configs/mnist1d_*.cfg``: test accuracy over 3 seeds,
steps, seconds, measured by ``benchmarks/recipes.py``, which reruns them) and draws them
on one chart, the Pareto front of steps against accuracy: fixed-batch recipes as dots
labelled with their batch, batch schedules as squares labelled with their batches. The
band is the issue's goal, within 0.2 points of the B=64 baseline; the table says which
recipe reaches it in the fewest steps. Nothing is trained here: rerun
``benchmarks/recipes.py --update_claims`` to re-measure the claims first.

    python benchmarks/batch_schedules.py     # docs/batch_schedules.png and the table
"""

from __future__ import annotations

import glob
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from absl import app, flags  # noqa: E402

from lbkeras.atomic import save_atomically  # noqa: E402
from lbkeras.training.claims import read_claim  # noqa: E402
from lbkeras.training.plan import plan  # noqa: E402
from tools.common import read_flagfile  # noqa: E402

FLAGS = flags.FLAGS
flags.DEFINE_string("baseline", "mnist1d_nesterov_64", "The small-batch recipe compared with.")
flags.DEFINE_float("within", 0.002, "The goal: test accuracy at most this far below the baseline.")
flags.DEFINE_string("out", os.path.join(ROOT, "docs", "batch_schedules.png"), "The chart.")

#: MNIST-1D's training examples (the recipes' default dataset size).
NUM_TRAIN = 16_000


def recipes() -> list[dict]:
    """Every MNIST-1D recipe with a claim: name, batches (one, or the schedule's), claim."""
    rows = []
    for path in sorted(glob.glob(os.path.join(ROOT, "configs", "mnist1d_*.cfg"))):
        claim = read_claim(path)
        if claim is None:
            continue
        config = read_flagfile(path)
        stages = plan(config, NUM_TRAIN, 1).stages
        rows.append(
            {
                "name": os.path.splitext(os.path.basename(path))[0],
                "batches": [stage.batch_size for stage in stages],
                "claim": claim,
            }
        )
    return rows


def plot(rows: list[dict], baseline: float, path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    figure, axes = plt.subplots(figsize=(8, 5), dpi=100)
    axes.axhspan(baseline - FLAGS.within, baseline + 0.004, color="tab:green", alpha=0.12)
    axes.axhline(baseline - FLAGS.within, color="tab:green", linewidth=1, linestyle="--")
    for row in rows:
        claim, scheduled = row["claim"], len(row["batches"]) > 1
        axes.errorbar(
            claim.steps,
            claim.value,
            yerr=claim.spread,
            fmt="s" if scheduled else "o",
            color="tab:orange" if scheduled else "tab:blue",
            markersize=7,
            capsize=3,
        )
        batches = " → ".join(str(b) for b in row["batches"])
        label = f"{row['name'].removeprefix('mnist1d_')} ({batches})"
        axes.annotate(
            label,
            (claim.steps, claim.value),
            xytext=(6, 4),
            textcoords="offset points",
            fontsize=8,
        )
    axes.set_xscale("log")
    axes.set_ylim(top=baseline + 0.004)
    axes.set_xlabel("optimizer steps (30 passes over 16,000 examples; log scale)")
    axes.set_ylabel("test accuracy (mean ± sd, 3 seeds)")
    axes.set_title(
        "MNIST-1D recipes: fixed batches (dots) and batch schedules (squares); "
        f"band: within {100 * FLAGS.within:.1f} points of B=64",
        fontsize=9,
    )
    axes.grid(alpha=0.3, which="both")
    figure.tight_layout()
    os.makedirs(os.path.dirname(path), exist_ok=True)
    save_atomically(path, lambda tmp: figure.savefig(tmp, format="png"))
    plt.close(figure)


def main(argv: list[str]) -> None:
    del argv
    rows = recipes()
    baseline = next(row["claim"].value for row in rows if row["name"] == FLAGS.baseline)
    print("| recipe | batches | steps | test accuracy | behind B=64 (points) | goal |")
    print("| --- | --- | ---: | --- | ---: | --- |")
    for row in sorted(rows, key=lambda r: r["claim"].steps):
        claim = row["claim"]
        behind = 100 * (baseline - claim.value)
        reached = "reached" if baseline - claim.value <= FLAGS.within + 1e-12 else "missed"
        batches = " → ".join(str(b) for b in row["batches"])
        print(
            f"| {row['name']} | {batches} | {claim.steps} | {claim.value:.4f} ± "
            f"{claim.spread:.4f} | {behind:.2f} | {reached} |"
        )
    plot(rows, baseline, FLAGS.out)
    print(f"chart: {FLAGS.out}")


if __name__ == "__main__":
    app.run(main)
