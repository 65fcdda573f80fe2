"""An adaptive batch schedule in the trainer: the measured B_simple grows the batch at loop
ends, the run goes on from the backup of that loop with the new plan, and the result is
bit-identical to a run given the same changes up front (a ``steps`` schedule).

The runs are trainer processes of their own (tests/tools/cli.py): MirroredStrategy
training in the test process would leave collectives behind that break the later
tests' (a shape mismatch in a collective instance).
"""

from __future__ import annotations

import json
import os

import keras
import numpy as np
import pytest

import lbkeras  # noqa: F401  (registers GradientStatistics & co. for load_model)
from lbkeras.training import ExperimentConfig, experiment
from tests.tools.cli import results, train

DATA = {"input_shape": [4], "num_classes": 2, "num_train": 1024, "num_eval": 64}
FLAGS = (
    "--model=mlp",
    '--model_options={"hidden_units": [8]}',
    "--dataset=synthetic",
    f"--dataset_options={json.dumps(DATA)}",
    "--strategy=mirrored",
    "--devices=2",
    "--global_batch_size=256",
    "--optimizer=adam",
    "--base_learning_rate=0.01",
    "--base_batch_size=64",
    "--lr_scaling=sqrt",
    "--epochs=4",
    "--warmup_epochs=0.5",
    "--monitor_every_steps=1",
    "--steps_per_loop=4",
)


def _weights(model_dir):
    model = keras.saving.load_model(os.path.join(model_dir, "model.keras"))
    return [v.numpy() for v in model.weights + model.optimizer.variables]


def _train(model_dir, data_dir, *flags):
    done = train(model_dir, data_dir, *FLAGS, *flags)
    assert done.returncode == 0, done.stderr[-3000:]
    return results(model_dir)


def test_an_adaptive_run_equals_the_steps_schedule_of_its_own_decisions(tmp_path):
    # A tiny threshold: the batch doubles at every check (once a pass, at the first loop end
    # at or after it) while it may, whatever B_simple measures.
    adaptive = str(tmp_path / "adaptive")
    options = {"batch_size": 64, "threshold": 1e-6}
    got = _train(
        adaptive,
        str(tmp_path),
        "--batch_schedule=adaptive",
        f"--batch_schedule_options={json.dumps(options)}",
    )
    # 64 x 16 steps (4 loops of 4) to 1,024: check -> 128; 8 steps to 2,048 -> 256
    assert [(s["batch_size"], s["first_step"]) for s in got["batch_history"]] == [
        (64, 0),
        (128, 16),
        (256, 24),
    ]
    decisions = [
        (d["examples"], d["old_batch_size"], d["new_batch_size"]) for d in got["batch_decisions"]
    ]
    assert decisions == [(1024, 64, 128), (2048, 128, 256), (3072, 256, 256)]  # 256: the cap
    assert all(d["estimate"] > 0 for d in got["batch_decisions"])
    assert got["examples"] == 4096 and got["steps"] == 16 + 8 + 8

    steps = str(tmp_path / "steps")
    changes = {"changes": [[0, 64], [1024, 128], [2048, 256]]}
    planned = _train(
        steps,
        str(tmp_path),
        "--batch_schedule=steps",
        f"--batch_schedule_options={json.dumps(changes)}",
    )
    assert planned["batch_history"] == got["batch_history"]
    for a, b in zip(_weights(adaptive), _weights(steps)):
        np.testing.assert_array_equal(a, b)  # bit for bit: restarts from a backup are exact


def test_an_adaptive_schedule_needs_the_noise_scale(tmp_path):
    config = ExperimentConfig(
        model_dir=str(tmp_path / "a"),
        model="mlp",
        dataset="synthetic",
        dataset_options=DATA,
        global_batch_size=256,
        batch_schedule="adaptive",
        batch_schedule_options={"batch_size": 64},
    )
    with pytest.raises(ValueError, match="--monitor_every_steps=1"):
        experiment.prepare(config)
    with pytest.raises(ValueError, match="2 or more replicas"):
        experiment.prepare(config.replace(monitor_every_steps=1))
