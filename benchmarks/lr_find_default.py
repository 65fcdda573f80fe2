"""Does the range test's recommended rate train? The default experiment, end to end.

Runs :func:`lbkeras.tuning.lr_find.lr_find` on the default experiment
(``ExperimentConfig()``: MNIST-1D, ``mnist1d_cnn``, LARS at global batch 2048) with the
default range-test settings, then trains the default experiment with the recommended
rate as its peak (``--base_learning_rate=R --base_batch_size=2048``) and prints the test
accuracy (target >= 0.98; the hand-tuned recipe, peak 8.0, reaches about 0.99). With
``--also=NAME`` it trains with a second suggestion too. A few minutes on 2 CPU cores.

    python benchmarks/lr_find_default.py                     # --also=minimum/10
    python benchmarks/lr_find_default.py --also= --max_lr=100
"""

from __future__ import annotations

import os
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from absl import app, flags  # noqa: E402

from lbkeras.training import ExperimentConfig, run  # noqa: E402
from lbkeras.tuning.lr_find import RangeTestSettings, lr_find, paste_flags  # noqa: E402

FLAGS = flags.FLAGS
flags.DEFINE_string("also", "minimum/10", "A second suggestion to train with ('' for none).")
flags.DEFINE_float("max_lr", 10.0, "The range test's max_lr.")
flags.DEFINE_string("data_dir", "", "MNIST-1D cache (default: the dataset's own).")

TARGET = 0.98


def main(argv: list[str]) -> None:
    del argv
    config = ExperimentConfig(data_dir=FLAGS.data_dir, verbose=0)
    folder = tempfile.mkdtemp(prefix="lr_find_default-")
    start = time.perf_counter()
    test = lr_find(config, RangeTestSettings(max_lr=FLAGS.max_lr), os.path.join(folder, "lr"))
    blow_up = f"{test.diverged_at:.3g}" if test.diverged_at is not None else "none"
    print(
        f"range test: {len(test.lrs)} steps at batch {config.global_batch_size}, "
        f"{time.perf_counter() - start:.0f} s; blow-up at {blow_up}; suggestions "
        + ", ".join(f"{name} {lr:.3g}" for name, lr in test.suggestions.items())
        + f"; flags: {' '.join(paste_flags(test, config))}"
    )
    names = [test.recommended] + [n for n in [FLAGS.also] if n and n != test.recommended]
    for name in names:
        rate = float(f"{test.suggestions[name]:.3g}")  # what the pasted flag says
        start = time.perf_counter()
        results = run(
            config.replace(
                base_learning_rate=rate,
                base_batch_size=config.global_batch_size,
                model_dir=os.path.join(folder, name.replace("/", "_")),
            )
        )
        verdict = "meets" if results["eval_accuracy"] >= TARGET else "misses"
        print(
            f"{name}{' (recommended)' if name == test.recommended else ''}: peak {rate:g} -> "
            f"test accuracy {results['eval_accuracy']:.4f} after {results['steps']} steps, "
            f"{time.perf_counter() - start:.0f} s ({verdict} the {TARGET} target)"
        )


if __name__ == "__main__":
    app.run(main)
