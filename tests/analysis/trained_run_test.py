"""sharpness_of_run and lbkeras-sharpness on a real (tiny) trainer run."""

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
from tests.tools.cli import tool_in_process
from tools import sharpness as sharpness_tool

PROGRAM = "lbkeras-sharpness"
SETTINGS = SharpnessSettings(num_batches=3, batch_size=200, ascent_steps=3)


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    """An MLP trained 2 epochs on synthetic data, with label smoothing (one-hot labels)."""
    model_dir = str(tmp_path_factory.mktemp("run"))
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
    return model_dir, config


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


def test_tool_measures_a_run(trained_run, capsys):
    model_dir, _ = trained_run
    if os.path.exists(os.path.join(model_dir, SHARPNESS_FILE)):
        os.remove(os.path.join(model_dir, SHARPNESS_FILE))
    status = tool_in_process(
        sharpness_tool,
        PROGRAM,
        f"--run_dir={model_dir}",
        "--num_batches=2",
        "--batch_size=100",
        "--ascent_steps=3",
        "--power_iterations=20",
    )
    out = capsys.readouterr().out
    assert status == 0
    with open(os.path.join(model_dir, SHARPNESS_FILE)) as f:
        written = json.load(f)
    assert written["num_examples"] == 200 and written["settings"]["power_iterations"] == 20
    assert f"epsilon-sharpness {written['epsilon_sharpness']:.6g}" in out
    assert f"top Hessian eigenvalue {written['top_hessian_eigenvalue']:.6g}" in out


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--run_dir={missing}"], "no such run folder"),
        (["--run_dir={empty}"], "no config.json"),
        (["--run_dir={no_model}"], "no model.keras"),
        (["--run_dir={run}", "--epsilon=0"], "epsilon"),
        (["--run_dir={run}", "--epsilon=-1e-3"], "epsilon"),
        (["--run_dir={run}", "--num_batches=x"], "num_batches"),
        ([], "--run_dir is required"),
        (["--run_dir={run}", "extra"], "unexpected arguments"),
    ],
)
def test_tool_bad_input_one_line_exit_2_nothing_written(
    trained_run, tmp_path, capsys, flags, message
):
    model_dir, config = trained_run
    (tmp_path / "empty").mkdir()
    no_model = tmp_path / "no_model"
    no_model.mkdir()
    (no_model / "config.json").write_text(config.to_json())
    folders = {"missing": tmp_path / "missing", "empty": tmp_path / "empty", "no_model": no_model}
    if os.path.exists(os.path.join(model_dir, SHARPNESS_FILE)):
        os.remove(os.path.join(model_dir, SHARPNESS_FILE))
    before = {path: sorted(os.listdir(path)) for path in (model_dir, no_model, tmp_path / "empty")}
    flags = [flag.format(run=model_dir, **folders) for flag in flags]
    status = tool_in_process(sharpness_tool, PROGRAM, *flags)
    captured = capsys.readouterr()
    assert status == 2
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"{PROGRAM}: ") and message in lines[0], lines
    assert {path: sorted(os.listdir(path)) for path in before} == before
