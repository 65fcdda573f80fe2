"""Does every optimizer train the default experiment at its default learning rate?

Runs the default experiment (``ExperimentConfig()``: MNIST-1D, ``mnist1d_cnn``, global
batch 2048, 25 epochs, the linear rule) once per registered optimizer name, changing
only ``optimizer`` (as ``lbkeras-train --optimizer=NAME`` does), each in a fresh
model_dir, so that the learning rate is the registry's default for that name
(:func:`lbkeras.optimizers.default_learning_rate`; a wrapper's is its inner optimizer's,
SGD's). Prints one row per name: the base rate (per 256) and the peak it scales to, the
test accuracy, the final training loss, and whether the run diverged (the trainer's
NaN / divergence guard, exit status 3). About a minute per name on 2 CPU cores.

    python benchmarks/optimizer_defaults.py
    python benchmarks/optimizer_defaults.py --names=adam,lion --epochs=10
"""

from __future__ import annotations

import os
import re
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from absl import app, flags  # noqa: E402

from lbkeras import optimizers  # noqa: E402
from lbkeras.callbacks import NonFiniteLossError  # noqa: E402
from lbkeras.training import ExperimentConfig, run  # noqa: E402
from lbkeras.training.recipe import base_learning_rate, peak_learning_rate  # noqa: E402

FLAGS = flags.FLAGS
flags.DEFINE_list("names", [], "Optimizer names to run (default: every registered name).")
flags.DEFINE_float("epochs", 0.0, "Epochs of each run (default: the default experiment's).")
flags.DEFINE_string("data_dir", "", "MNIST-1D cache (default: the dataset's own).")
flags.DEFINE_string("work_dir", "", "Folder of the runs (default: a new temporary folder).")


def main(argv: list[str]) -> None:
    del argv
    names = FLAGS.names or optimizers.names()
    folder = FLAGS.work_dir or tempfile.mkdtemp(prefix="optimizer_defaults-")
    default = ExperimentConfig(data_dir=FLAGS.data_dir, verbose=0)
    if FLAGS.epochs:
        default = default.replace(epochs=FLAGS.epochs)
    print(
        f"the default experiment ({default.epochs:g} epochs at batch "
        f"{default.global_batch_size}, {default.lr_scaling} rule), --optimizer=NAME only; "
        f"runs in {folder}"
    )
    header = f"{'name':<22} {'base rate':>9} {'peak':>8} {'test acc':>8} {'train loss':>10}"
    print(f"{header} {'time':>6}  outcome")
    for name in names:
        config = default.replace(optimizer=name, model_dir=os.path.join(folder, name))
        start = time.perf_counter()
        try:
            results = run(config)
            accuracy, loss = f"{results['eval_accuracy']:.4f}", f"{results['train_loss']:.4f}"
            outcome = "trained"
        except NonFiniteLossError as error:
            accuracy, loss = "-", "-"
            outcome = "diverged: " + re.split(r"; | is above", str(error))[0]
        print(
            f"{name:<22} {base_learning_rate(config):>9.3g} {peak_learning_rate(config):>8.3g} "
            f"{accuracy:>8} {loss:>10} {time.perf_counter() - start:>5.0f}s  {outcome}",
            flush=True,
        )


if __name__ == "__main__":
    app.run(main)
