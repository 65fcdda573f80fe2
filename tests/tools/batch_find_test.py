"""lbkeras-batch-find end to end: a real search in a subprocess, and bad input."""

import csv
import json
import os
import subprocess
import sys

import pytest

from tests.tools.cli import ROOT, environment, tool_in_process
from tools import batch_find as batch_find_tool

# An mlp on 64 synthetic examples: the search tries 32, then 64 (capped there).
TINY = [
    "--model=mlp",
    '--model_options={"hidden_units": [8]}',
    "--dataset=synthetic",
    '--dataset_options={"input_shape": [4], "num_classes": 2, "num_train": 64, "num_eval": 16}',
    "--start=32",
    "--max_batch_size=1024",
    "--multiple_of=16",
    "--steps=2",
    "--warmup_steps=1",
]


def _run(*flag_list: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "tools.batch_find", *flag_list],
        capture_output=True,
        text=True,
        timeout=600,
        env=environment(),
        cwd=ROOT,
    )


def test_a_search_writes_its_report_and_prints_the_flag(tmp_path):
    model_dir = str(tmp_path / "find")
    done = _run(f"--model_dir={model_dir}", *TINY)
    assert done.returncode == 0, done.stderr[-3000:]
    with open(os.path.join(model_dir, "batch_find.json")) as f:
        report = json.load(f)
    with open(os.path.join(model_dir, "batch_find.csv")) as f:
        rows = list(csv.DictReader(f))
    assert [t["global_batch_size"] for t in report["trials"]] == [32, 64]
    assert all(t["status"] == "fits" for t in report["trials"])
    assert report["capped_at"] == 64 and report["largest_fitting"] == 64
    assert report["recommended_max"] == 64  # nothing failed: no margin
    assert report["chosen"] in (32, 64)
    assert report["config"]["model"] == "mlp" and report["settings"]["steps"] == 2
    assert len(rows) == len(report["trials"])
    for row, trial in zip(rows, report["trials"]):
        assert int(row["global_batch_size"]) == trial["global_batch_size"]
        assert row["status"] == trial["status"]
        assert float(row["examples_per_second"]) == pytest.approx(trial["examples_per_second"])
        assert float(row["step_seconds"]) == pytest.approx(trial["step_seconds"])
        assert trial["examples_per_second"] > 0 and trial["step_seconds"] > 0
    assert os.path.getsize(os.path.join(model_dir, "batch_find.png")) > 10_000
    assert sorted(os.listdir(os.path.join(model_dir, "trials"))) == ["32", "64"]
    assert not [name for name in os.listdir(model_dir) if name.startswith(".tmp")]
    out = done.stdout
    assert "batch 32: fits" in out and "batch 64: fits" in out  # progress, one per trial
    assert f"--global_batch_size={report['chosen']}" in out
    assert (
        "every size fit up to 64 (the 64 training examples cap the search); recommended "
        "maximum 64 (no size ran out of memory, so no margin)" in out
    )
    table = [line.split() for line in out.splitlines() if line.strip()[:2] in ("32", "64")]
    assert [int(cells[0]) for cells in table] == [32, 64]
    for cells, trial in zip(table, report["trials"]):
        assert float(cells[2]) == pytest.approx(trial["examples_per_second"], abs=0.5)


def test_an_unknown_model_is_one_line_exit_2_and_nothing_written(tmp_path):
    model_dir = str(tmp_path / "find")
    done = _run(f"--model_dir={model_dir}", *TINY, "--model=no-such-model")
    assert done.returncode == 2, done.stderr[-3000:]
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert lines[-1].startswith("lbkeras-batch-find: error: unknown model 'no-such-model'")
    assert "does not fit" not in done.stdout + done.stderr and "out of memory" not in done.stdout
    assert not os.path.exists(model_dir)


def _main_in_process(*flag_list: str) -> int:
    """The tool's flag parsing and ``main`` in this process: its exit status."""
    return tool_in_process(batch_find_tool, "lbkeras-batch-find", *flag_list)


@pytest.mark.parametrize(
    "bad, message",
    [
        (["--start=2048"], "start 2048 is larger than max_batch_size 1024"),
        (["--start=0"], "start must be an integer > 0"),
        (["--start=-32"], "start must be an integer > 0"),
        (["--margin=1.5"], "margin must be a finite number in [0, 1)"),
        (["--start=40"], "start 40 is not a multiple of multiple_of 16"),
        (["--steps=many"], "--steps"),
        (["--global_batch_size=0"], "global_batch_size must be an integer > 0"),
        (["positional"], "unexpected arguments"),
    ],
)
def test_bad_input_is_one_line_exit_2_and_nothing_written(tmp_path, capsys, bad, message):
    model_dir = str(tmp_path / "find")
    assert _main_in_process(f"--model_dir={model_dir}", *TINY, *bad) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and err.startswith("lbkeras-batch-find: ")
    assert message in err
    assert not os.path.exists(model_dir)
