"""sharpness_of_run on a real (tiny) trainer run; the tool on it: tests/tools/sharpness_test.py."""

import json
import os

import keras
import numpy as np
import pytest

from lbkeras.analysis import (
    SHARPNESS_FILE,
    BatchLoss,
    HessianVectorProduct,
    SharpnessSettings,
    sharpness_of_run,
    top_hessian_eigenvalue,
    training_batches,
)
from lbkeras.training import ExperimentConfig, run

SETTINGS = SharpnessSettings(num_batches=3, batch_size=200, ascent_steps=3)


def train_tiny_run(model_dir: str) -> ExperimentConfig:
    """Trains an MLP 2 epochs on synthetic data, with label smoothing (one-hot labels), into
    ``model_dir``; returns its config. Also the run tests/tools/sharpness_test.py measures."""
    config = ExperimentConfig(
        model_dir=model_dir,
        model="mlp",
        model_options={"hidden_units": [16]},
        dataset="synthetic",
        dataset_options={"input_shape": [8], "num_classes": 3, "num_train": 500, "num_eval": 100},
        global_batch_size=100,
        epochs=2,
        warmup_epochs=0,
        label_smoothing=0.1,
        verbose=0,
    )
    run(config)
    return config


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    model_dir = str(tmp_path_factory.mktemp("run"))
    return model_dir, train_tiny_run(model_dir)


def test_sharpness_of_run_writes_finite_values_that_agree(trained_run):
    model_dir, config = trained_run
    measured = sharpness_of_run(model_dir, SETTINGS)
    with open(os.path.join(model_dir, SHARPNESS_FILE)) as f:
        assert json.load(f) == measured
    assert (measured["num_batches"], measured["num_examples"]) == (3, 500)  # 200, 200, 100
    for key in ("loss", "top_hessian_eigenvalue", "epsilon_sharpness", "max_loss"):
        assert np.isfinite(measured[key]), key
    assert measured["eigenvalue_converged"] and measured["top_hessian_eigenvalue"] > 0
    assert measured["epsilon_sharpness"] >= 0 and measured["epsilon"] == 1e-3
    assert measured["settings"]["batch_size"] == 200

    # Independent checks on the same fixed batches: the loss, as Keras evaluates it; the
    # eigenvalue, from a power iteration started elsewhere, and as a Rayleigh quotient.
    model = keras.saving.load_model(os.path.join(model_dir, "model.keras"))
    batches = training_batches(config, model, 3, 200)
    assert batches[0][1].shape == (200, 3)  # one-hot: the trainer's label smoothing
    x = np.concatenate([b[0] for b in batches])
    y = np.concatenate([b[1] for b in batches])
    evaluated = model.evaluate(x, y, batch_size=500, verbose=0, return_dict=True)["loss"]
    assert measured["loss"] == pytest.approx(evaluated, rel=1e-5)
    other = top_hessian_eigenvalue(model, batches, seed=7)
    assert other.eigenvalue == pytest.approx(measured["top_hessian_eigenvalue"], rel=0.05)
    product = HessianVectorProduct(BatchLoss(model, batches))
    rayleigh = float(other.vector @ product(other.vector).numpy())
    assert rayleigh == pytest.approx(measured["top_hessian_eigenvalue"], rel=0.05)
