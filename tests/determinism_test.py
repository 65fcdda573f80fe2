"""Same config, same seed, same weights: also for two runs that load each other.

Two trainer processes of one config are started at the same moment on this (2-core)
machine, so that each runs under the other's load, and their saved models (weights and
optimizer state) and results (all but the timings) are compared bit for bit. What is
tested is the trainer's default (``deterministic=True``): no flag asks for it. The config
(batch 4096 of 8,000 MNIST-1D examples, LAMB, 8 steps) is one where the runs differed
without ``deterministic`` (``benchmarks/determinism_cost.py``: largest weight
differences 2.5e-4 to 6e-4 in 4 of 4 pairs, on one device).
"""

from __future__ import annotations

import os
import subprocess
import sys

import keras
import numpy as np
import pytest

import lbkeras  # noqa: F401  (registers LAMB for load_model)
from lbkeras.data.mnist1d import load_mnist1d
from tests.tools.cli import ROOT, environment, results, train_command

PAIR_FLAGS = (
    '--dataset_options={"num_train": 8000, "num_eval": 500}',
    "--global_batch_size=4096",
    "--optimizer=lamb",
    "--base_learning_rate=0.015",
    "--lr_scaling=sqrt",
    "--epochs=4",
    "--warmup_epochs=1",
)
# Measured by the clock, so they differ between the two runs.
TIMINGS = ("wall_seconds", "examples_per_second")


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    folder = str(tmp_path_factory.mktemp("data"))
    load_mnist1d(folder, num_train=8000, num_test=500)
    return folder


def _weights_of_two_concurrent_runs(tmp_path, data_dir, *flags):
    model_dirs = [str(tmp_path / side) for side in "ab"]
    processes = [
        subprocess.Popen(
            train_command(model_dir, data_dir, *PAIR_FLAGS, *flags),
            env=environment(),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        for model_dir in model_dirs
    ]
    for process in processes:
        _, stderr = process.communicate(timeout=600)
        assert process.returncode == 0, stderr[-3000:]
    assert results(model_dirs[0])["steps"] == 8
    return [_variables(d) for d in model_dirs], model_dirs


def _variables(model_dir):
    """The saved model's weights (batch-norm statistics too) and optimizer variables."""
    model = keras.saving.load_model(os.path.join(model_dir, "model.keras"))
    return [np.asarray(v) for v in model.weights + model.optimizer.variables]


def _assert_bit_identical(a, b):
    assert len(a) == len(b)
    for index, (x, y) in enumerate(zip(a, b)):
        assert np.array_equal(x, y), f"variable {index}: largest difference {np.max(np.abs(x - y))}"


def _assert_same_results(model_dirs):
    """results.json alike, timings aside (exact: the losses and accuracies too)."""
    a, b = ({k: v for k, v in results(d).items() if k not in TIMINGS} for d in model_dirs)
    assert a == b
    assert {"eval_loss", "eval_accuracy", "train_loss"} <= set(a)


def test_two_runs_started_together_end_bit_identical(tmp_path, data_dir):
    (a, b), model_dirs = _weights_of_two_concurrent_runs(tmp_path, data_dir)
    _assert_bit_identical(a, b)
    _assert_same_results(model_dirs)


def test_two_mirrored_runs_started_together_end_bit_identical(tmp_path, data_dir):
    (a, b), model_dirs = _weights_of_two_concurrent_runs(
        tmp_path, data_dir, "--strategy=mirrored", "--devices=2"
    )
    assert results(model_dirs[0])["num_replicas"] == 2
    _assert_bit_identical(a, b)
    _assert_same_results(model_dirs)


def test_a_runtime_started_with_more_threads_is_refused_with_the_fix():
    program = (
        "import tensorflow as tf\n"
        "tf.constant(1.0) + 1.0\n"  # starts the runtime with the default thread pools
        "from lbkeras.determinism import run_ops_one_at_a_time\n"
        "run_ops_one_at_a_time()\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", program],
        capture_output=True,
        text=True,
        env=environment(),
        cwd=ROOT,
        timeout=120,
    )
    assert done.returncode != 0
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("ValueError: deterministic=True needs one TensorFlow inter-op thread")
    assert "run_ops_one_at_a_time()" in last and "deterministic=False" in last
