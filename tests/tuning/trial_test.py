"""lbkeras.tuning.trial.run_once: a config trained in a process of its own, read back
(not trained again) when its folder holds a finished run of the same config, and a
failed run as one clear error."""

from __future__ import annotations

import json
import os

import pytest

from lbkeras.training import ExperimentConfig
from lbkeras.tuning.process import ANSWER_FILE
from lbkeras.tuning.trial import run_once

TINY = ExperimentConfig(
    model="mlp",
    model_options={"hidden_units": [8]},
    dataset="synthetic",
    dataset_options={"input_shape": [4], "num_classes": 2, "num_train": 64, "num_eval": 32},
    global_batch_size=16,
    epochs=1,
    warmup_epochs=0,
    verbose=0,
)


def test_a_finished_run_is_read_back_not_trained_again(tmp_path):
    config = TINY.replace(model_dir=str(tmp_path / "run"))
    results = run_once(config)
    with open(tmp_path / "run" / "results.json") as f:
        assert json.load(f) == results
    assert results["steps"] == 4
    files = [tmp_path / "run" / "results.json", tmp_path / "run" / "process" / ANSWER_FILE]
    written = [os.path.getmtime(path) for path in files]
    assert run_once(config) == results
    # Read back: no process ran (it would have written its answer and the results again).
    assert [os.path.getmtime(path) for path in files] == written


def test_a_failed_run_is_one_clear_error(tmp_path):
    config = TINY.replace(model_dir=str(tmp_path / "run"), dataset_options={"num_train": -1})
    with pytest.raises(RuntimeError, match=str(tmp_path / "run")):
        run_once(config)
