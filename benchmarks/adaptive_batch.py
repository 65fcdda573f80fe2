"""The adaptive batch schedule on MNIST-1D: its batch beside the B_simple it follows and the
branched critical batch, on one chart.

Trains ``configs/mnist1d_lamb_2k.cfg`` (LAMB, square-root rule, label smoothing, 30
passes) with ``--batch_schedule=adaptive`` from batch 64, doubling when the smoothed
B_simple reaches the batch (``threshold`` 1), checked once a pass, up to 2048, on 2
logical CPU replicas (the noise scale needs 2 small-batch gradients per step). Then
draws, against examples seen, the global batch of every step and B_simple (both from
the run's TensorBoard events), and the branched critical batch of
``benchmarks/critical_batch.py`` (``--critical_batch``, its ``critical_batch.json``) if
it has been measured, and prints the run's decisions and test accuracy.

    nice -n 10 python benchmarks/adaptive_batch.py                      # ~5 minutes on 2 cores
    python benchmarks/adaptive_batch.py --out=docs/adaptive_batch.png   # the README's chart
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from absl import app, flags  # noqa: E402

from lbkeras.atomic import save_atomically  # noqa: E402
from lbkeras.monitoring.events import read_scalars  # noqa: E402
from lbkeras.tuning.critical_batch import bound  # noqa: E402

FLAGS = flags.FLAGS
flags.DEFINE_string("model_dir", "runs/adaptive_batch", "The run's folder (a rerun resumes it).")
flags.DEFINE_list(
    "critical_batch",
    [os.path.join(ROOT, "docs", f"critical_batch{suffix}.json") for suffix in ("_256", "")],
    "Branched critical-batch measurements (lbkeras-critical-batch's critical_batch.json: "
    "docs/ has the default run's at B=2048 and B=256); missing ones are skipped.",
)
flags.DEFINE_string("out", "runs/adaptive_batch.png", "The chart.")

OPTIONS = {"batch_size": 64, "threshold": 1.0}
COMMAND = [
    "--flagfile=configs/mnist1d_lamb_2k.cfg",
    "--batch_schedule=adaptive",
    f"--batch_schedule_options={json.dumps(OPTIONS)}",
    "--strategy=mirrored",
    "--devices=2",
    "--monitor_every_steps=1",
    "--verbose=0",
]


def train(model_dir: str) -> dict:
    """Runs (or resumes) the adaptive run in a process of its own; its results."""
    command = [sys.executable, "-m", "tools.train", *COMMAND, f"--model_dir={model_dir}"]
    subprocess.run(command, cwd=ROOT, check=True)
    with open(os.path.join(model_dir, "results.json")) as f:
        return json.load(f)


def branched(paths: list[str]) -> list[tuple[float, float, str]]:
    """``(examples, critical batch, bound)`` of every branch point measured: ``"at most"``
    where only the base batch kept up (k = 1: 2x did not), ``"at least"`` where the largest
    branch did, else ``"between"`` (it and not twice it)."""
    points = []
    for path in paths:
        if os.path.exists(path):
            with open(path) as f:
                summary = json.load(f)
            points += [(p["examples"], p["critical_batch"], bound(p)) for p in summary["points"]]
    return points


def plot(model_dir: str, critical: list[tuple[float, float, str]], path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    logs = os.path.join(model_dir, "logs", "train")
    examples = read_scalars(logs, "examples_seen")
    batch = read_scalars(logs, "batch_size")
    simple = read_scalars(logs, "noise_scale/b_simple")
    steps = sorted(batch)
    figure, axes = plt.subplots(figsize=(8, 4.5), dpi=100)
    axes.step(
        [examples[s] for s in steps],
        [batch[s] for s in steps],
        where="post",
        color="tab:orange",
        linewidth=2,
        label="global batch (adaptive)",
    )
    shown = sorted(s for s in simple if s in examples)
    axes.plot(
        [examples[s] for s in shown],
        [simple[s] for s in shown],
        color="tab:blue",
        linewidth=0.8,
        alpha=0.7,
        label="B_simple (TensorBoard's running average)",
    )
    markers = {
        "at most": ("v", "branched critical batch: at most (2x did not keep up)"),
        "at least": ("^", "branched critical batch: at least (the largest branch kept up)"),
        "between": ("s", "branched critical batch (2x did not keep up)"),
    }
    for side, (marker, what) in markers.items():
        points = [(e, b) for e, b, kind in critical if kind == side]
        if points:
            axes.plot(
                *zip(*points),
                marker,
                color="tab:green",
                markersize=8,
                fillstyle="full" if side == "between" else "none",
                linestyle="none",
                label=what,
            )
    axes.set_yscale("log", base=2)
    axes.set_xlabel("examples seen")
    axes.set_ylabel("examples per step")
    axes.set_title(
        "MNIST-1D, LAMB: the adaptive batch (grown on each loop's B_simple)", fontsize=10
    )
    axes.grid(alpha=0.3, which="both")
    axes.legend(fontsize=8)
    figure.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    save_atomically(path, lambda tmp: figure.savefig(tmp, format="png"))
    plt.close(figure)


def main(argv: list[str]) -> None:
    del argv
    results = train(FLAGS.model_dir)
    for decision in results["batch_decisions"]:
        print(
            f"after {decision['examples']} examples: B_simple {decision['estimate']:.0f}, "
            f"batch {decision['old_batch_size']} -> {decision['new_batch_size']}"
        )
    print(
        f"test accuracy {results['eval_accuracy']:.4f} after {results['steps']} steps, "
        f"batches {[s['batch_size'] for s in results['batch_history']]}"
    )
    plot(FLAGS.model_dir, branched(FLAGS.critical_batch), FLAGS.out)
    print(f"chart: {FLAGS.out}")


if __name__ == "__main__":
    app.run(main)
