"""lbkeras-critical-batch: bad input is one line and exit status 2, with nothing written
(the measurement itself: tests/tuning/critical_batch_test.py)."""

from __future__ import annotations

import pytest

from tests.tools.cli import tool_in_process
from tools import critical_batch as critical_batch_tool

TINY = (
    "--model=mlp",
    '--model_options={"hidden_units": [8]}',
    "--dataset=synthetic",
    '--dataset_options={"input_shape": [4], "num_classes": 2, "num_train": 256, "num_eval": 16}',
    "--global_batch_size=16",
    "--epochs=3",
    "--steps_per_loop=4",
    "--warmup_epochs=0.5",
)


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--multipliers=2,4"], "1 (the base batch, the reference)"),
        (["--branch_at=0.5,0.6"], "lands on loop 2, as the point before it"),
        (["--branch_at=2.9"], "the end of the run"),
        (["--branch_passes=0"], "branch_passes"),
        (["--tolerance=-1"], "tolerance"),
        (["--accumulation_steps=2"], "--strategy=mirrored --devices=2"),
        (["--multipliers=1,x"], "multipliers"),
    ],
)
def test_bad_input_exits_2_and_writes_nothing(tmp_path, capsys, flags, message):
    out = tmp_path / "measure"
    code = tool_in_process(
        critical_batch_tool, "lbkeras-critical-batch", *TINY, f"--model_dir={out}", *flags
    )
    stderr = capsys.readouterr().err
    errors = [line for line in stderr.splitlines() if "lbkeras-critical-batch" in line]
    assert code == 2, stderr[-2000:]
    assert len(errors) == 1 and message in errors[0], stderr[-2000:]
    assert not out.exists()


def test_model_dir_is_required(capsys):
    code = tool_in_process(critical_batch_tool, "lbkeras-critical-batch", *TINY)
    assert code == 2 and "--model_dir is required" in capsys.readouterr().err
