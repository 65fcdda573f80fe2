"""lbkeras-sharpness: it measures a trained run; bad input is one line, exit 2, nothing written."""

import json
import os

import pytest

from lbkeras.analysis import SHARPNESS_FILE
from tests.analysis.trained_run_test import train_tiny_run
from tests.tools.cli import tool_in_process
from tools import sharpness as sharpness_tool

PROGRAM = "lbkeras-sharpness"


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    model_dir = str(tmp_path_factory.mktemp("run"))
    return model_dir, train_tiny_run(model_dir)


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
