"""Outputs.check_same_run: one experiment per model_dir; a folder written by an older
lbkeras (its config lacks a setting added since) resumes when the new setting is at its
default, and is refused when it is not."""

from __future__ import annotations

import json

import pytest

from lbkeras.distribute.strategy import WorkerRole
from lbkeras.training import ExperimentConfig
from lbkeras.training.outputs import Outputs

CHIEF = WorkerRole(task_type=None, task_id=0, num_workers=1)


def _folder(tmp_path, config: ExperimentConfig, drop: str | None = None) -> Outputs:
    written = config.to_dict()
    written.pop(drop, None)
    (tmp_path / "config.json").write_text(json.dumps(written))
    return Outputs(str(tmp_path), CHIEF)


def test_the_same_config_resumes_and_another_is_refused(tmp_path):
    config = ExperimentConfig(model_dir=str(tmp_path), global_batch_size=512)
    outputs = _folder(tmp_path, config)
    outputs.check_same_run(config)
    outputs.check_same_run(config.replace(verbose=2, resume=False))  # run behaviour only
    with pytest.raises(ValueError, match=r"different config \(global_batch_size\)"):
        outputs.check_same_run(config.replace(global_batch_size=256))


def test_a_setting_added_since_counts_as_its_default(tmp_path):
    config = ExperimentConfig(model_dir=str(tmp_path))
    outputs = _folder(tmp_path, config, drop="precise_bn_examples")
    outputs.check_same_run(config)
    with pytest.raises(ValueError, match=r"different config \(precise_bn_examples\)"):
        outputs.check_same_run(config.replace(precise_bn_examples=64))
