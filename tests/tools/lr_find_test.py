"""lbkeras-lr-find end to end: the range test of a config in a subprocess, its files and
its flags; bad input in process."""

import csv
import json
import math
import os
import subprocess
import sys

import pytest
from absl import flags as absl_flags

from lbkeras.training import ExperimentConfig
from lbkeras.training.config_flags import config_from_flags, define_flags
from lbkeras.training.recipe import peak_learning_rate
from tests.tools.cli import ROOT, environment, tool_in_process
from tools import lr_find as lr_find_tool

TINY = [
    "--model=mlp",
    '--model_options={"hidden_units": [16]}',
    "--dataset=synthetic",
    '--dataset_options={"input_shape": [8], "num_classes": 3, "num_train": 512, "num_eval": 64}',
    "--global_batch_size=32",
    "--optimizer=momentum",
    "--weight_decay=0",
]


@pytest.fixture(scope="module")
def tool_run(tmp_path_factory):
    model_dir = str(tmp_path_factory.mktemp("lr_find") / "out")
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "tools.lr_find",
            f"--model_dir={model_dir}",
            *TINY,
            "--min_lr=1e-4",
            "--max_lr=100",
            "--num_steps=30",
            "--recommend=minimum/10",
            "--accumulation_steps=2",  # 2 micro-batches of 32 per step: batch 64
        ],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
        env=environment(),
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "peak learning rate" not in done.stderr  # the trainer's plan, not what it runs
    return model_dir, done.stdout


def test_the_tool_writes_json_csv_and_png(tool_run):
    model_dir, _ = tool_run
    assert sorted(os.listdir(model_dir)) == ["lr_find.csv", "lr_find.json", "lr_find.png"]
    with open(os.path.join(model_dir, "lr_find.png"), "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"
    with open(os.path.join(model_dir, "lr_find.json")) as f:
        report = json.load(f)
    assert report["settings"] == {
        "min_lr": 1e-4,
        "max_lr": 100.0,
        "num_steps": 30,
        "mode": "exponential",
        "smoothing": 0.98,
        "stop_factor": 4.0,
        "skip_start": 0.1,
        "recommend": "minimum/10",
    }
    assert report["config"]["model"] == "mlp" and report["config"]["optimizer"] == "momentum"
    assert report["config"]["accumulation_steps"] == 2 and report["global_batch_size"] == 32
    assert report["effective_batch_size"] == 64 and report["recommended"] == "minimum/10"
    assert set(report["suggestions"]) == {"valley", "steepest", "minimum/10"}
    assert report["recommended_learning_rate"] == report["suggestions"]["minimum/10"]
    lrs = report["lrs"]
    assert 5 <= len(lrs) <= 30 and lrs[0] == pytest.approx(1e-4)
    assert len(report["losses"]) == len(report["smoothed"]) == len(lrs)
    if report["diverged_at"] is not None:
        assert report["diverged_at"] == lrs[-1]

    with open(os.path.join(model_dir, "lr_find.csv")) as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["lr", "loss", "smoothed_loss"] and len(rows) == len(lrs) + 1
    for row, lr, loss, smoothed in zip(
        rows[1:], lrs, report["losses"], report["smoothed"], strict=True
    ):
        assert float(row[0]) == lr
        for text, value in ((row[1], loss), (row[2], smoothed)):
            assert float(text) == value if value is not None else not math.isfinite(float(text))


def test_the_printed_flags_make_the_recommended_rate_the_trainers_peak(tool_run):
    model_dir, stdout = tool_run
    with open(os.path.join(model_dir, "lr_find.json")) as f:
        report = json.load(f)
    (line,) = [line for line in stdout.splitlines() if line.startswith("flags to paste: ")]
    pasted = line[len("flags to paste: ") :].split()
    assert pasted == report["flags"]
    flag_values = absl_flags.FlagValues()
    define_flags(ExperimentConfig, flag_values)
    flag_values(["lbkeras-train", *TINY, "--accumulation_steps=2", *pasted])
    config = config_from_flags(ExperimentConfig, flag_values)
    assert pasted[1] == "--base_batch_size=64" and config.base_batch_size == 64
    recommended = report["recommended_learning_rate"]
    assert config.base_learning_rate == pytest.approx(recommended, rel=5e-3)  # 3 digits
    assert peak_learning_rate(config) == config.base_learning_rate  # at the tested batch
    assert peak_learning_rate(config.replace(global_batch_size=64)) == pytest.approx(
        2 * config.base_learning_rate
    )  # linear scaling from there
    for name, value in report["suggestions"].items():
        assert f"{name}" in stdout and f"{value:.3g}" in stdout
    assert "(recommended)" in stdout


def _run_in_process(*flags: str) -> int:
    """The tool's flag parsing and ``main`` in this process: its exit status."""
    return tool_in_process(lr_find_tool, "lbkeras-lr-find", *flags)


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--min_lr=1", "--max_lr=0.5"], "min_lr=1 must be below max_lr=0.5: lower min_lr"),
        (["--optimizer=sgdd"], "unknown optimizer 'sgdd'; choose one of:"),
        (["--num_steps=0"], "num_steps must be an integer > 0, got 0"),
        (["--num_steps=-3"], "num_steps must be an integer > 0, got -3"),
        (["--mode=cubic"], "mode='cubic'; choose one of: exponential, linear"),
        (["--num_steps=many"], "flag --num_steps=many"),
    ],
)
def test_bad_input_is_one_line_exit_2_and_nothing_written(tmp_path, capsys, flags, message):
    model_dir = tmp_path / "out"
    assert _run_in_process(f"--model_dir={model_dir}", *TINY, *flags) == 2
    captured = capsys.readouterr()
    (line,) = captured.err.strip().splitlines()
    assert line.startswith("lbkeras-lr-find: error: ") and message in line, line
    assert captured.out == "" and not model_dir.exists()
