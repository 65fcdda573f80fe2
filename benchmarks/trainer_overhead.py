"""Throughput of ``lbkeras-train`` against a bare ``model.fit`` on the same model and data.

Both sides train the default experiment's model (``mnist1d_cnn``) with the same LARS
optimizer, schedule, global batch and ``tf.data`` input; lbkeras adds its monitoring
(per-step learning rate and throughput to TensorBoard, Keras TensorBoard, HParams),
``BackupAndRestore`` every epoch and the NaN guard. Each side's examples/second comes
from the same timing callback (epochs after the first, which traces), the sides
alternate over several rounds, and the script prints the median ratio
lbkeras / bare (target >= 0.95).

    python benchmarks/trainer_overhead.py            # --rounds=5 --epochs=6 by default
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import keras  # noqa: E402
from absl import app, flags  # noqa: E402

from lbkeras import data, models  # noqa: E402
from lbkeras.training import ExperimentConfig, build_optimizer, build_schedule, plan, run  # noqa: E402

FLAGS = flags.FLAGS
flags.DEFINE_integer("rounds", 5, "Alternating rounds of (bare, lbkeras).")
flags.DEFINE_integer("epochs", 6, "Epochs per run; the first is not timed.")
flags.DEFINE_integer("global_batch_size", 2048, "Global batch.")
flags.DEFINE_string("data_dir", "", "MNIST-1D cache (default: the dataset's own).")

TARGET = 0.95


class EpochTimer(keras.callbacks.Callback):
    """Examples per second over the epochs after the first."""

    def __init__(self, examples_per_epoch: int) -> None:
        super().__init__()
        self.examples_per_epoch = examples_per_epoch
        self.seconds: list[float] = []

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        if epoch > 0:
            self.seconds.append(time.perf_counter() - self._start)

    @property
    def examples_per_second(self) -> float:
        return self.examples_per_epoch * len(self.seconds) / sum(self.seconds)


def bare_fit(config: ExperimentConfig) -> float:
    source = data.get(config.dataset, data_dir=config.data_dir or None)
    steps = plan(config, source.info.num_train, 1)
    keras.utils.set_random_seed(config.seed)
    model = models.get(
        config.model, input_shape=source.info.input_shape, num_classes=source.info.num_classes
    )
    optimizer = build_optimizer(
        config, build_schedule(config, steps.total_steps, steps.steps_per_epoch)
    )
    model.compile(
        optimizer=optimizer,
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=[keras.metrics.SparseCategoricalAccuracy(name="accuracy")],
    )
    train = source.make("train", config.global_batch_size, training=True, seed=config.seed)
    timer = EpochTimer(steps.steps_per_epoch * config.global_batch_size)
    model.fit(
        train.repeat(),
        epochs=steps.epochs,
        steps_per_epoch=steps.steps_per_epoch,
        callbacks=[timer],
        verbose=0,
    )
    return timer.examples_per_second


def lbkeras_fit(config: ExperimentConfig) -> float:
    source = data.get(config.dataset, data_dir=config.data_dir or None)
    steps = plan(config, source.info.num_train, 1)
    timer = EpochTimer(steps.steps_per_epoch * config.global_batch_size)
    with tempfile.TemporaryDirectory() as model_dir:
        run(config.replace(model_dir=model_dir), callbacks=[timer])
    return timer.examples_per_second


def main(argv: list[str]) -> None:
    del argv
    config = ExperimentConfig(
        epochs=float(FLAGS.epochs),
        global_batch_size=FLAGS.global_batch_size,
        data_dir=FLAGS.data_dir,
        verbose=0,
        resume=False,
    )
    print(
        f"keras {keras.__version__}, backend {keras.backend.backend()}, "
        f"{os.cpu_count()} CPUs, model {config.model}, global batch {config.global_batch_size}"
    )
    bare, ours = [], []
    for round_index in range(FLAGS.rounds):
        bare.append(bare_fit(config))
        ours.append(lbkeras_fit(config))
        print(
            f"round {round_index}: bare {bare[-1]:.0f} ex/s, lbkeras-train {ours[-1]:.0f} ex/s, "
            f"ratio {ours[-1] / bare[-1]:.3f}"
        )
    ratio = statistics.median(o / b for o, b in zip(ours, bare))
    verdict = "PASS" if ratio >= TARGET else "MISS"
    print(
        f"median bare {statistics.median(bare):.0f} ex/s, lbkeras-train "
        f"{statistics.median(ours):.0f} ex/s: ratio {ratio:.3f} (target >= {TARGET}) {verdict}"
    )


if __name__ == "__main__":
    app.run(main)
