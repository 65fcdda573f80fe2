"""The branched critical batch beside B_simple and B_noise computed exactly (per-example
gradients, the Hessian).

Reads a finished ``lbkeras-critical-batch`` measurement (``--model_dir``): for each branch
point D it restores the base run's snapshot after D examples
(:func:`lbkeras.tuning.critical_batch.point_model`), computes every training example's
gradient of the loss (:mod:`lbkeras.analysis.noise_scale`), and from them the exact gradient
noise scale ``B_simple = tr(Sigma) / |G|^2`` (``G`` the mean gradient, ``Sigma`` the
per-example covariance, unbiased), and prints it beside the B_simple the base run
estimated from its replicas (``noise_scale/b_simple``) and the branched critical batch.
Meant for a model without batch norm (a per-example gradient is then well defined), e.g.
logistic regression on MNIST-1D::

    python -m tools.critical_batch --model=mlp --model_options='{"hidden_units": []}' \\
        --optimizer=sgd --momentum=0 --base_learning_rate=0.2 --base_batch_size=32 \\
        --global_batch_size=32 --lr_scaling=linear --weight_decay=0 --epochs=8 \\
        --warmup_epochs=0.25 --strategy=mirrored --devices=2 --monitor_every_steps=1 \\
        --branch_at=0.5,2,6 --multipliers=1,2,4,8,16,32,64 --branch_passes=1 \\
        --tolerance=0.002 --model_dir=/tmp/cbk
    python benchmarks/critical_batch_known.py --model_dir=/tmp/cbk

Measured so (2026-12-04, 2 cores, about 8 minutes in all; one seed; ε = 0.002):

| D (examples) | exact B_simple | exact B_noise | estimated B_simple | branched critical batch |
| ---: | ---: | ---: | ---: | --- |
| 16000 | 1122 | 740 | 823 | 64 |
| 32000 | 1944 | 1249 | 1383 | 256 |
| 96000 | 34282 | 18529 | 18025 | ≥ 2048 |

The replicas' estimate of B_simple is 0.5-0.7 of the exact value (it averages over past
steps, while B_simple grows); McCandlish et al.'s B_noise (``tr(H Sigma) / G^T H G``, the
critical batch of their model, with the exact Hessian) is 0.54-0.66 of B_simple; and the
branched critical batch is 7-12 times below B_noise: all grow as training goes on, but
the branched criterion (the loss after the same examples within ε of the base batch's) is
much stricter than the noise scale's "twice the minimal steps". Neither noise scale is a
stand-in for the branched answer here (Merrill et al. 2025 found B_simple hard to trust too).
"""

from __future__ import annotations

import json
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import numpy as np  # noqa: E402
from absl import app, flags  # noqa: E402

from lbkeras.analysis.noise_scale import (  # noqa: E402
    dense_hessian,
    exact_b_noise,
    exact_b_simple,
    per_example_gradients,
)
from lbkeras.tuning.critical_batch import bound, point_model  # noqa: E402

FLAGS = flags.FLAGS
flags.DEFINE_string("model_dir", "", "A finished lbkeras-critical-batch measurement.")
flags.DEFINE_integer("batch", 500, "Examples per vectorised gradient computation.")
flags.DEFINE_integer(
    "max_hessian_parameters", 5000, "B_noise (a dense Hessian) only for models this small."
)


def training_examples(source) -> tuple[np.ndarray, np.ndarray]:
    """Every training example of an in-memory source: MNIST-1D's arrays, or the synthetic
    source's pool (its training examples repeat the pool)."""
    x, y = source.arrays("train") if hasattr(source, "arrays") else source.pool("train")
    return np.asarray(x, "float32"), np.asarray(y, "int64")


def main(argv: list[str]) -> None:
    del argv
    with open(os.path.join(FLAGS.model_dir, "critical_batch.json")) as f:
        summary = json.load(f)
    print(
        "| D (examples) | exact B_simple | exact B_noise | estimated B_simple "
        "| branched critical batch |"
    )
    print("| ---: | ---: | ---: | ---: | --- |")
    for point in summary["points"]:
        model, source = point_model(FLAGS.model_dir, point["examples"])
        x, y = training_examples(source)
        batches = per_example_gradients(model, x, y, FLAGS.batch)
        if model.count_params() <= FLAGS.max_hessian_parameters:  # all gradients, once
            grads = np.concatenate(list(batches))
            exact = exact_b_simple([grads])
            b_noise = exact_b_noise(grads, dense_hessian(model, x, y))
        else:
            exact, b_noise = exact_b_simple(batches), float("nan")
        shown = {"at least": "≥ ", "at most": "≤ ", "between": ""}[bound(point)]
        print(
            f"| {point['examples']} | {exact:.0f} | {b_noise:.0f} | "
            f"{point['b_simple']:.0f} | {shown}{point['critical_batch']} |"
        )


if __name__ == "__main__":
    app.run(main)
