"""The gradient noise scale of a real run, plotted from its TensorBoard event files.

Trains the default experiment (``mnist1d_cnn``, LARS, effective batch 2048) with
gradient statistics on: 2 micro-batches of 1024 per step give the two batch sizes the
noise scale needs on one device. Then reads ``model_dir/logs/train`` back and draws
the training loss, ``B_simple`` against the batch of one step, and the LARS trust
ratios of the kernels into one PNG, by default beside the run in a new folder
``runs/DATE-TIME`` (as ``lbkeras-train``'s); ``--out=docs/noise_scale.png`` redraws the
README's picture.

    python benchmarks/noise_scale_plot.py                                # ~1 minute
    python benchmarks/noise_scale_plot.py --out=docs/noise_scale.png     # the README's
"""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from absl import app, flags  # noqa: E402

from lbkeras.monitoring.events import read_scalars, scalar_tags  # noqa: E402
from lbkeras.training import ExperimentConfig, run  # noqa: E402
from tools.common import new_run_dir  # noqa: E402  (TensorFlow imported quietly)

FLAGS = flags.FLAGS
flags.DEFINE_string("out", "", "The PNG to write (default: noise_scale.png in --model_dir).")
flags.DEFINE_string("model_dir", "", "Where to train (default: a new runs/DATE-TIME).")
flags.DEFINE_integer("every_steps", 2, "--monitor_every_steps of the run.")


def train(model_dir: str) -> dict:
    config = ExperimentConfig(
        model_dir=model_dir,
        global_batch_size=1024,
        accumulation_steps=2,
        monitor_every_steps=FLAGS.every_steps,
        verbose=0,
    )
    return run(config)


def plot(train_dir: str, results: dict, path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    def series(tag):
        values = read_scalars(train_dir, tag)
        steps = sorted(values)
        return steps, [values[s] for s in steps]

    figure, (loss_axes, noise_axes, trust_axes) = plt.subplots(1, 3, figsize=(15, 4.2), dpi=100)
    loss_axes.plot(*series("loss"), marker="o", color="tab:red")
    loss_axes.set(title="training loss (per loop)", xlabel="optimizer step", yscale="log")
    steps, b_simple = series("noise_scale/b_simple")
    noise_axes.plot(steps, b_simple, color="tab:blue", label="B_simple = tr(Σ) / |G|²")
    batch = results["effective_batch_size"]
    noise_axes.axhline(
        batch, color="tab:gray", linestyle="--", label=f"batch of one step ({batch})"
    )
    noise_axes.set(title="gradient noise scale", xlabel="optimizer step", yscale="log")
    noise_axes.legend(fontsize=8)
    kernels = sorted(
        tag for tag in scalar_tags(train_dir) if tag.startswith("trust_ratio/") and "kernel" in tag
    )
    for tag in kernels:
        trust_axes.plot(*series(tag), label=tag.split("/", 1)[1])
    trust_axes.set(title="LARS trust ratio per kernel", xlabel="optimizer step", yscale="log")
    trust_axes.legend(fontsize=7)
    for axes in (loss_axes, noise_axes, trust_axes):
        axes.grid(alpha=0.3, which="both")
    figure.suptitle(
        f"MNIST-1D, mnist1d_cnn, LARS, batch {batch} (2 x 1024): test accuracy "
        f"{results['eval_accuracy']:.3f} after {results['steps']} steps",
        fontsize=11,
    )
    figure.tight_layout()
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    figure.savefig(path)
    print(f"wrote {path}")


def main(argv: list[str]) -> None:
    del argv
    model_dir = FLAGS.model_dir or new_run_dir()
    results = train(model_dir)
    train_dir = os.path.join(model_dir, "logs", "train")
    b_simple = read_scalars(train_dir, "noise_scale/b_simple")
    first, last = (b_simple[s] for s in (min(b_simple), max(b_simple)))
    print(
        f"test accuracy {results['eval_accuracy']:.4f}; B_simple {first:.0f} at step "
        f"{min(b_simple)} -> {last:.0f} at step {max(b_simple)}; logs in {model_dir}"
    )
    plot(train_dir, results, FLAGS.out or os.path.join(model_dir, "noise_scale.png"))


if __name__ == "__main__":
    app.run(main)
