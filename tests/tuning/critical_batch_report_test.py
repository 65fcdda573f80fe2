"""The branched measurement's table and chart (lbkeras.tuning.critical_batch_report)."""

from __future__ import annotations

import json

from lbkeras.tuning.critical_batch_report import FILES, markdown, write_report


def _summary():
    def branch(k, loss, keeps_up):
        return {"multiplier": k, "batch_size": 64 * k, "steps": 8 // k, "eval_loss": loss,
                "status": "done", "keeps_up": keeps_up}  # fmt: skip

    return {
        "base_batch_size": 64,
        "branch_examples": 512,
        "num_train": 1000,
        "settings": {"tolerance": 0.01, "multipliers": [1, 2, 4]},
        "b_simple_curve": {"64": 10.0, "640": 30.0, "1280": -5.0, "1920": 60.0},
        "points": [
            {
                "examples": 640,
                "passes": 0.64,
                "critical_multiplier": 2,
                "critical_batch": 128,
                "at_largest": False,
                "b_simple": 30.0,
                "ratio": 128 / 30,
                "branches": [branch(1, 1.0, True), branch(2, 1.004, True), branch(4, 1.2, False)],
            },  # fmt: skip
            {
                "examples": 1280,
                "passes": 1.28,
                "critical_multiplier": 4,
                "critical_batch": 256,
                "at_largest": True,
                "b_simple": None,
                "ratio": None,
                "branches": [branch(1, 0.8, True), branch(2, 0.8, True), branch(4, 0.805, True)],
            },  # fmt: skip
        ],
    }


def test_the_table():
    lines = markdown(_summary()).splitlines()
    assert "batch 64" in lines[0] and "+ 0.01" in lines[0]
    assert lines[4] == "| 640 | 0.64 | 2 | 128 | 30 | 4.27 |"
    assert lines[5] == "| 1280 | 1.28 | 4 | >= 256 | - | - |"  # a lower bound; no B_simple
    assert lines[11] == "| 640 | 4 | 256 | 2 | 1.2000 | no |"


def test_write_report(tmp_path):
    write_report(_summary(), str(tmp_path))
    with open(tmp_path / FILES[0]) as f:
        assert json.load(f) == _summary()
    with open(tmp_path / FILES[2], "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"
