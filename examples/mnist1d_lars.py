"""Large-batch training in a minute on a CPU: MNIST-1D at global batch 2048 with LARS.

The recipe of You et al. (2017) at laptop scale: the learning rate scaled linearly
from a base rate tuned per 256 examples, gradual warmup, polynomial (power 2)
decay, LARS with coupled weight decay, biases and batch-norm parameters excluded
from decay and adaptation. Prints the test accuracy.

It shows the library used from your own code; ``lbkeras-train`` runs the same recipe
(``configs/mnist1d_lars_2k.cfg``) from the command line with logging and checkpoints. The
step counts are the trainer's (``lbkeras.training.plan``, epochs as passes over the data,
the input from ``lbkeras.data.stream``): 195 steps for 25 epochs at batch 2048, as
``lbkeras-train`` counts them.

Run from the repository root::

    python examples/mnist1d_lars.py --global_batch_size=2048 --epochs=25
"""

from __future__ import annotations

import time

import keras
from absl import app, flags

import lbkeras
from lbkeras.data.stream import training_stream
from lbkeras.training import ExperimentConfig, plan

FLAGS = flags.FLAGS
flags.DEFINE_integer("global_batch_size", 2048, "Examples per optimizer step.", lower_bound=1)
flags.DEFINE_integer("epochs", 25, "Passes over the 16,000 training examples.", lower_bound=1)
flags.DEFINE_float(
    "base_learning_rate", 1.0, "LARS learning rate per 256 examples.", lower_bound=1e-12
)
flags.DEFINE_float("warmup_epochs", 5.0, "Epochs of linear warmup.", lower_bound=0.0)
flags.DEFINE_float("weight_decay", 1e-3, "LARS coupled weight decay.", lower_bound=0.0)
flags.DEFINE_string("data_dir", "~/.cache/lbkeras", "Where the generated MNIST-1D is cached.")
flags.DEFINE_integer("seed", 0, "Seed for the model and the data order.")
flags.DEFINE_integer(
    "verbose", 2, "Keras verbosity: 0 silent, 1 progress bar, 2 one line at the end."
)


def main(argv: list[str]) -> None:
    del argv
    source = lbkeras.data.get("mnist1d", data_dir=FLAGS.data_dir)
    keras.utils.set_random_seed(FLAGS.seed)

    # The trainer's step arithmetic: epochs are passes over the data, round(E * N / B)
    # steps (195 for 25 epochs at 2048 on 16,000 examples), and the input a stream of
    # shuffled passes cut into batches across their boundaries, so that no example of a
    # pass is left out (lbkeras.data.stream).
    steps = plan(
        ExperimentConfig(
            global_batch_size=FLAGS.global_batch_size,
            epochs=FLAGS.epochs,
            warmup_epochs=FLAGS.warmup_epochs,
        ),
        source.info.num_train,
        num_replicas=1,
    )
    train_data = training_stream(
        source,
        FLAGS.global_batch_size,
        seed=FLAGS.seed,
        start_batch=0,
        num_batches=steps.total_steps,
    )
    peak_lr = lbkeras.scale_learning_rate(
        FLAGS.base_learning_rate, FLAGS.global_batch_size, base_batch_size=256, rule="linear"
    )
    schedule = lbkeras.schedules.Warmup(
        keras.optimizers.schedules.PolynomialDecay(
            peak_lr, steps.total_steps - steps.warmup_steps, end_learning_rate=0.0, power=2.0
        ),
        warmup_steps=steps.warmup_steps,
    )
    optimizer = lbkeras.optimizers.LARS(
        schedule, momentum=0.9, weight_decay=FLAGS.weight_decay, exclude_1d_variables=True
    )
    print(
        f"global batch {FLAGS.global_batch_size}: peak learning rate {peak_lr:g} "
        f"(linear rule from {FLAGS.base_learning_rate:g} per 256), "
        f"{steps.warmup_steps} warmup steps of {steps.total_steps} "
        f"({steps.passes:.2f} passes)"
    )

    model = lbkeras.models.get(
        "mnist1d_cnn", input_shape=source.info.input_shape, num_classes=source.info.num_classes
    )
    model.compile(
        optimizer=optimizer,
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    start = time.perf_counter()
    model.fit(train_data, epochs=1, verbose=FLAGS.verbose)  # one Keras epoch: the whole stream
    seconds = time.perf_counter() - start
    test_data = source.make("eval", 1024, training=False)
    _, accuracy = model.evaluate(test_data, verbose=0)
    print(f"test accuracy {accuracy:.4f} after {steps.total_steps} steps in {seconds:.0f} s")


if __name__ == "__main__":
    app.run(main)
