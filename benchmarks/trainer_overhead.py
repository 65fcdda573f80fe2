"""Throughput of ``lbkeras-train`` against a bare ``model.fit`` on the same model and data.

All sides train the default experiment's model (``mnist1d_cnn``) with the same LARS
optimizer, schedule, global batch and input stream (:mod:`lbkeras.data.stream`), for
the same loops (Keras epochs):

* ``bare``: ``model.fit`` alone;
* ``bare+eval``: ``model.fit`` evaluating on the eval split after every loop, as the
  trainer does by default;
* ``lbkeras``: :func:`lbkeras.training.run` with its defaults (evaluation every loop,
  learning rate, throughput, metrics and HParams to TensorBoard, backups every 60 s,
  the NaN guard);
* ``lbkeras-noeval``: the same with ``eval_every_loops=0`` (monitoring and backups only);
* ``lbkeras-schedule``: ``lbkeras`` under a batch schedule of one stage at the same batch
  (``--batch_schedule=steps``): the schedule's machinery alone (the learning rate keyed
  on examples, the staged stream, ``batch_size`` and ``examples_seen`` in TensorBoard).

Each side's examples/second comes from the same timing callback (loops after the
first, which traces; evaluation inside a loop counts), the sides alternate over several
rounds, and the script prints median ratios: the trainer's overhead
``lbkeras / bare+eval`` (target >= 0.97), ``lbkeras-noeval / bare`` (the same without
evaluation), what evaluating every loop costs, ``bare+eval / bare``, and what a batch
schedule costs, ``lbkeras-schedule / lbkeras`` (target >= 0.97).

    python benchmarks/trainer_overhead.py            # --rounds=5 --epochs=6 by default
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import keras  # noqa: E402
from absl import app, flags  # noqa: E402

from benchmarks.timing import LoopTimer  # noqa: E402
from lbkeras import data, determinism, models  # noqa: E402
from lbkeras.data.stream import training_stream  # noqa: E402
from lbkeras.training import (  # noqa: E402
    ExperimentConfig,
    build_optimizer,
    build_schedule,
    plan,
    run,
)

FLAGS = flags.FLAGS
flags.DEFINE_integer("rounds", 5, "Alternating rounds of all sides.")
flags.DEFINE_integer("epochs", 6, "Passes over the data per run; the first loop is not timed.")
flags.DEFINE_integer("global_batch_size", 2048, "Global batch.")
flags.DEFINE_string("data_dir", "", "MNIST-1D cache (default: the dataset's own).")

TARGET = 0.97
SIDES = ("bare", "bare+eval", "lbkeras", "lbkeras-noeval", "lbkeras-schedule")


def bare_fit(config: ExperimentConfig, evaluate: bool) -> float:
    source = data.get(config.dataset, data_dir=config.data_dir or None)
    steps = plan(config, source.info.num_train, 1)
    keras.utils.set_random_seed(config.seed)
    model = models.get(
        config.model, input_shape=source.info.input_shape, num_classes=source.info.num_classes
    )
    schedule = build_schedule(config, steps.total_steps, steps.steps_per_pass)
    model.compile(
        optimizer=build_optimizer(config, schedule),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=[keras.metrics.SparseCategoricalAccuracy(name="accuracy")],
    )
    train = training_stream(
        source,
        config.global_batch_size,
        seed=config.seed,
        start_batch=0,
        num_batches=steps.total_steps,
    )
    evaluation = source.make("eval", config.global_batch_size, training=False)
    timer = LoopTimer(config.global_batch_size)
    model.fit(
        train,
        shuffle=False,  # the stream shuffles each pass
        epochs=steps.loops,
        steps_per_epoch=steps.steps_per_loop,
        validation_data=evaluation if evaluate else None,
        callbacks=[timer],
        verbose=0,
    )
    return timer.examples_per_second


def lbkeras_fit(config: ExperimentConfig) -> float:
    timer = LoopTimer(config.global_batch_size)
    with tempfile.TemporaryDirectory() as model_dir:
        run(config.replace(model_dir=model_dir), callbacks=[timer])
    return timer.examples_per_second


def measure(side: str, config: ExperimentConfig) -> float:
    if side.startswith("bare"):
        return bare_fit(config, evaluate=side == "bare+eval")
    if side.endswith("schedule"):
        one_stage = {"changes": [[0, config.global_batch_size]]}
        return lbkeras_fit(config.replace(batch_schedule="steps", batch_schedule_options=one_stage))
    return lbkeras_fit(config.replace(eval_every_loops=0) if side.endswith("noeval") else config)


def main(argv: list[str]) -> None:
    del argv
    # Before any op: every side (the bare ones too) runs as the trainer does by default.
    determinism.run_ops_one_at_a_time()
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
    rates: dict[str, list[float]] = {side: [] for side in SIDES}
    for round_index in range(FLAGS.rounds):
        for side in SIDES:
            rates[side].append(measure(side, config))
        print(
            f"round {round_index}: "
            + ", ".join(f"{side} {rates[side][-1]:.0f} ex/s" for side in SIDES)
        )

    def ratio(a: str, b: str) -> float:
        return statistics.median(x / y for x, y in zip(rates[a], rates[b]))

    overhead = ratio("lbkeras", "bare+eval")
    schedule = ratio("lbkeras-schedule", "lbkeras")

    def verdict(value: float) -> str:
        return "PASS" if value >= TARGET else "MISS"

    print(
        f"median ratios: lbkeras / bare+eval {overhead:.3f} (target >= {TARGET}) "
        f"{verdict(overhead)}; lbkeras-noeval / bare {ratio('lbkeras-noeval', 'bare'):.3f}; "
        f"cost of evaluating every loop: bare+eval / bare {ratio('bare+eval', 'bare'):.3f}; "
        f"batch schedule: lbkeras-schedule / lbkeras {schedule:.3f} (target >= {TARGET}) "
        f"{verdict(schedule)}"
    )


if __name__ == "__main__":
    app.run(main)
