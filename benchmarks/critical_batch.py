"""The branched critical batch of the default MNIST-1D run, beside its B_simple.

Runs ``lbkeras-critical-batch`` (:mod:`lbkeras.tuning.critical_batch`) on
``configs/mnist1d_lars_2k.cfg`` (LARS, batch 2048, 25 passes) on 2 logical CPU
replicas, so that the base run logs the gradient noise scale at every step: branches
at 1, 2, 4 and 8 x 2048 from the loop ends nearest 1, 4, 10 and 18 passes, each 2
passes (32,768 examples) long, tolerance 0.01 in eval loss. Then copies the table and
the chart to ``--out`` (``docs/critical_batch.md`` and ``.png``, the README's).

    nice -n 10 python benchmarks/critical_batch.py                 # ~10 minutes on 2 cores
    nice -n 10 python benchmarks/critical_batch.py --out=docs      # the README's files
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

from absl import app, flags

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
COMMAND = [
    "--flagfile=configs/mnist1d_lars_2k.cfg",
    "--strategy=mirrored",
    "--devices=2",
    "--monitor_every_steps=1",
    "--branch_at=1,4,10,18",
    "--multipliers=1,2,4,8",
    "--branch_passes=2",
    "--tolerance=0.01",
]

FLAGS = flags.FLAGS
flags.DEFINE_string("model_dir", "runs/critical_batch", "The measurement's folder (resumes).")
flags.DEFINE_string("out", "", "A folder to copy critical_batch.md and .png into (e.g. docs).")


def main(_) -> None:
    command = [sys.executable, "-m", "tools.critical_batch", *COMMAND]
    subprocess.run([*command, f"--model_dir={FLAGS.model_dir}"], cwd=ROOT, check=True)
    if FLAGS.out:
        for name in ("critical_batch.md", "critical_batch.png"):
            shutil.copy(os.path.join(ROOT, FLAGS.model_dir, name), os.path.join(FLAGS.out, name))


if __name__ == "__main__":
    app.run(main)
