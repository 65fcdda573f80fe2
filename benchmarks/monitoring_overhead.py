"""What gradient statistics cost: the trainer with ``--monitor_every_steps=N`` against the
same run without them.

The trainer benchmark's model and data (``mnist1d_cnn`` on MNIST-1D, LARS) at an
effective batch of 2048 as 2 micro-batches of 1024 (so the noise scale has its two batch
sizes on one device). The noise scale is measured at every step in every monitored run;
``N`` sets how often the per-variable rows are written and read. Sides alternate over
several rounds; the script prints the median ratio of step time, monitored / plain
(target <= 1.03 at N = 100).

    python benchmarks/monitoring_overhead.py            # --rounds=5 --epochs=6
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from absl import app, flags  # noqa: E402

from benchmarks.timing import LoopTimer  # noqa: E402
from lbkeras.training import ExperimentConfig, run  # noqa: E402

FLAGS = flags.FLAGS
flags.DEFINE_integer("rounds", 5, "Alternating rounds of all sides.")
flags.DEFINE_integer("epochs", 6, "Passes over the data per run; the first loop is not timed.")
flags.DEFINE_list("every_steps", ["10", "100"], "The monitoring periods to measure.")
flags.DEFINE_string("data_dir", "", "MNIST-1D cache (default: the dataset's own).")

TARGET = 1.03


def seconds_per_step(every_steps: int) -> float:
    config = ExperimentConfig(
        global_batch_size=1024,
        accumulation_steps=2,
        epochs=float(FLAGS.epochs),
        monitor_every_steps=every_steps,
        data_dir=FLAGS.data_dir,
        verbose=0,
        resume=False,
    )
    timer = LoopTimer()
    with tempfile.TemporaryDirectory() as model_dir:
        run(config.replace(model_dir=model_dir), callbacks=[timer])
    return timer.seconds_per_step


def main(argv: list[str]) -> None:
    del argv
    periods = [int(n) for n in FLAGS.every_steps]
    sides = [0, *periods]
    times: dict[int, list[float]] = {side: [] for side in sides}
    for round_index in range(FLAGS.rounds):
        for side in sides:
            times[side].append(seconds_per_step(side))
        print(
            f"round {round_index}: "
            + ", ".join(
                f"{'plain' if side == 0 else f'N={side}'} {1000 * times[side][-1]:.1f} ms/step"
                for side in sides
            )
        )
    for period in periods:
        ratio = statistics.median(m / p for m, p in zip(times[period], times[0]))
        verdict = "PASS" if period < 100 or ratio <= TARGET else "MISS"
        target = f" (target <= {TARGET})" if period >= 100 else ""
        print(f"monitor_every_steps={period}: median step-time ratio {ratio:.3f}{target} {verdict}")


if __name__ == "__main__":
    app.run(main)
