"""An adaptive batch schedule in the trainer: the measured B_simple grows the batch at loop
ends, the run goes on from the backup of that loop with the new plan, and the result is
bit-identical to a run given the same changes up front (a ``steps`` schedule)."""

from __future__ import annotations

import os

import keras
import numpy as np
import pytest

from lbkeras.training import ExperimentConfig, experiment

NUM_TRAIN = 1024


def _config(tmp_path, name, **changes) -> ExperimentConfig:
    settings = {
        "model_dir": str(tmp_path / name),
        "model": "mlp",
        "model_options": {"hidden_units": [8]},
        "dataset": "synthetic",
        "dataset_options": {
            "input_shape": [4],
            "num_classes": 2,
            "num_train": NUM_TRAIN,
            "num_eval": 64,
        },
        "strategy": "mirrored",
        "devices": ("2",),
        "global_batch_size": 256,
        "optimizer": "adam",
        "base_learning_rate": 0.01,
        "base_batch_size": 64,
        "lr_scaling": "sqrt",
        "epochs": 4,
        "warmup_epochs": 0.5,
        "monitor_every_steps": 1,
        "steps_per_loop": 4,
        "verbose": 0,
    }
    return ExperimentConfig(**{**settings, **changes})


def _weights(model_dir):
    model = keras.saving.load_model(os.path.join(model_dir, "model.keras"))
    return [v.numpy() for v in model.weights + model.optimizer.variables]


def test_an_adaptive_run_equals_the_steps_schedule_of_its_own_decisions(tmp_path):
    # A tiny threshold: the batch doubles at every check (once a pass, at the first loop end
    # at or after it) while it may, whatever B_simple measures.
    adaptive = _config(
        tmp_path,
        "adaptive",
        batch_schedule="adaptive",
        batch_schedule_options={"batch_size": 64, "threshold": 1e-6},
    )
    results = experiment.run(adaptive)
    # 64 x 16 steps (4 loops of 4) to 1,024: check -> 128; 8 steps to 2,048 -> 256
    assert [(s["batch_size"], s["first_step"]) for s in results["batch_history"]] == [
        (64, 0),
        (128, 16),
        (256, 24),
    ]
    decisions = [
        (d["examples"], d["old_batch_size"], d["new_batch_size"])
        for d in results["batch_decisions"]
    ]
    assert decisions == [(1024, 64, 128), (2048, 128, 256), (3072, 256, 256)]  # 256: the cap
    assert all(d["estimate"] > 0 for d in results["batch_decisions"])
    assert results["examples"] == 4096 and results["steps"] == 16 + 8 + 8

    changes = [[0, 64], [1024, 128], [2048, 256]]
    fixed = _config(
        tmp_path,
        "steps",
        batch_schedule="steps",
        batch_schedule_options={"changes": changes},
    )
    planned = experiment.run(fixed)
    assert planned["batch_history"] == results["batch_history"]
    for a, b in zip(_weights(adaptive.model_dir), _weights(fixed.model_dir)):
        np.testing.assert_array_equal(a, b)  # bit for bit: restarts from a backup are exact


def test_an_adaptive_schedule_needs_the_noise_scale(tmp_path):
    with pytest.raises(ValueError, match="--monitor_every_steps=1"):
        experiment.prepare(
            _config(
                tmp_path,
                "a",
                batch_schedule="adaptive",
                monitor_every_steps=0,
                batch_schedule_options={"batch_size": 64},
            )
        )
    with pytest.raises(ValueError, match="2 or more replicas"):
        experiment.prepare(
            _config(
                tmp_path,
                "b",
                batch_schedule="adaptive",
                strategy="default",
                devices=(),
                batch_schedule_options={"batch_size": 64},
            )
        )
