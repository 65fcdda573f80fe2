"""What ``deterministic=True`` (one TensorFlow inter-op thread) costs, and what it buys.

Cost: the default experiment (``lbkeras-train``, MNIST-1D at batch 2048) trained in
fresh processes, alternately with ``--deterministic`` and ``--nodeterministic``, for
``--rounds`` rounds; the median examples/second of each side (from ``results.json``:
loops after the first) and their ratio (target >= 0.97, the issue's 3%).

Effect: ``--pairs`` times, two processes of one config and seed (``--pair_flags``: by
default batch 4096 on 8,000 examples, 8 steps of LAMB, where the convolutions are
large enough to show it) started at the same moment, with each setting; the largest
weight difference between the two saved models.

    python benchmarks/determinism_cost.py            # --rounds=5 --pairs=2
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from absl import app, flags  # noqa: E402

FLAGS = flags.FLAGS
flags.DEFINE_integer("rounds", 5, "Alternating rounds of the two settings (cost).")
flags.DEFINE_integer("epochs", 10, "Passes of each cost run (the default experiment's 25 / 2.5).")
flags.DEFINE_integer("pairs", 2, "Concurrent pairs per setting (effect).")
flags.DEFINE_list(
    "pair_flags",
    [
        '--dataset_options={"num_train": 8000, "num_eval": 500}',
        "--global_batch_size=4096",
        "--optimizer=lamb",
        "--base_learning_rate=0.015",
        "--lr_scaling=sqrt",
        "--epochs=4",
        "--warmup_epochs=1",
    ],
    "Trainer flags of the concurrent pairs.",
)

TARGET = 0.97
SETTINGS = ("--deterministic", "--nodeterministic")


def _train(model_dir: str, *flag_list: str) -> subprocess.Popen:
    command = [sys.executable, "-m", "tools.train", f"--model_dir={model_dir}", "--verbose=0"]
    return subprocess.Popen(
        [*command, *flag_list],
        cwd=ROOT,
        env=dict(os.environ, PYTHONPATH=ROOT),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


def _finish(process: subprocess.Popen) -> None:
    _, stderr = process.communicate()
    if process.returncode:
        raise SystemExit(f"a trainer run failed:\n{stderr[-2000:]}")


def throughput(folder: str, setting: str, index: int) -> float:
    model_dir = os.path.join(folder, f"cost{index}{setting}")
    _finish(_train(model_dir, setting, f"--epochs={FLAGS.epochs}", "--warmup_epochs=2"))
    with open(os.path.join(model_dir, "results.json")) as f:
        return json.load(f)["examples_per_second"]


def largest_difference(folder: str, setting: str, index: int) -> float:
    import keras
    import numpy as np

    import lbkeras  # noqa: F401  (registers the optimizers for load_model)

    dirs = [os.path.join(folder, f"pair{index}{setting}{side}") for side in "ab"]
    processes = [_train(d, setting, *FLAGS.pair_flags) for d in dirs]
    for process in processes:
        _finish(process)
    a, b = (keras.saving.load_model(os.path.join(d, "model.keras")) for d in dirs)
    return max(float(np.max(np.abs(x - y))) for x, y in zip(a.get_weights(), b.get_weights()))


def main(argv: list[str]) -> None:
    del argv
    with tempfile.TemporaryDirectory() as folder:
        speeds = {setting: [] for setting in SETTINGS}
        for index in range(FLAGS.rounds):
            for setting in SETTINGS:
                speeds[setting].append(throughput(folder, setting, index))
                print(f"round {index} {setting}: {speeds[setting][-1]:.0f} examples/s")
        differences = {
            setting: [largest_difference(folder, setting, i) for i in range(FLAGS.pairs)]
            for setting in SETTINGS
        }
    on, off = (statistics.median(speeds[s]) for s in SETTINGS)
    print(f"median examples/s: deterministic {on:.0f}, not {off:.0f}")
    print(f"ratio deterministic / not: {on / off:.3f} (target >= {TARGET})")
    for setting, values in differences.items():
        shown = ", ".join(f"{v:.3g}" for v in values)
        print(f"concurrent pairs {setting}: largest weight difference {shown}")


if __name__ == "__main__":
    app.run(main)
