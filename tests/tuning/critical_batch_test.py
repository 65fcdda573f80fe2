"""The branched critical-batch measurement (lbkeras.tuning.critical_batch): the plan against
a hand table, the criterion against an independent reference, bad input, and one tiny real
measurement whose table equals what its runs' results.json and event files say."""

from __future__ import annotations

import glob
import itertools
import json
import math
import os

import pytest
import tensorflow as tf

from lbkeras.training import ExperimentConfig
from lbkeras.tuning.critical_batch import (
    CriticalBatchSettings,
    critical_multiplier,
    measure,
    plan_branches,
)

# An mlp on 256 synthetic examples at batch 16, 4 steps per loop: 16 steps a pass, 48 in all.
TINY = ExperimentConfig(
    model="mlp",
    model_options={"hidden_units": [16]},
    dataset="synthetic",
    dataset_options={"input_shape": [8], "num_classes": 3, "num_train": 256, "num_eval": 64},
    optimizer="momentum",
    base_learning_rate=0.05,
    base_batch_size=16,
    global_batch_size=16,
    epochs=3,
    warmup_epochs=0.5,
    steps_per_loop=4,
    verbose=0,
)
SETTINGS = CriticalBatchSettings(branch_at=(0.5, 1.5), multipliers=(1, 2, 4), branch_passes=0.25)


def test_the_plan_against_a_hand_table(tmp_path):
    plan = plan_branches(TINY, SETTINGS, str(tmp_path))
    # D = 0.5 and 1.5 passes of 256 = 128 and 384 examples: the ends of loops 2 and 6 (64
    # examples a loop). Δ = 0.25 x 256 = 64 examples, a whole step at the largest batch 64.
    assert plan.points == (128, 384) and plan.loops == (2, 6)
    assert plan.branch_examples == 64 and plan.batch_size == 16
    table = [
        (b.examples, b.multiplier, b.batch_size, b.first_step, b.stop_step) for b in plan.branches
    ]
    assert table == [
        (128, 1, 16, 8, 12),
        (128, 2, 32, 8, 10),
        (128, 4, 64, 8, 9),
        (384, 1, 16, 24, 28),
        (384, 2, 32, 24, 26),
        (384, 4, 64, 24, 25),
    ]
    assert plan.base.model_dir == str(tmp_path / "base") and plan.base.steps_per_loop == 4
    k4 = plan.branches[2].config
    assert k4.model_dir == str(tmp_path / "D128" / "k4")
    assert (k4.batch_schedule, k4.global_batch_size, k4.steps_per_loop) == ("steps", 64, 4)
    assert k4.batch_schedule_options == {"changes": [[0, 16], [128, 64]]}
    assert plan.branches[0].config.batch_schedule_options == {"changes": [[0, 16]]}
    assert not os.listdir(tmp_path)  # planning writes nothing


def test_points_snap_to_loop_ends_and_the_branch_length_to_the_largest_batch(tmp_path):
    settings = CriticalBatchSettings(branch_at=(0.6, 1.1), multipliers=(1, 4), branch_passes=0.3)
    plan = plan_branches(TINY, settings, str(tmp_path))
    # 0.6 x 256 / 64 = 2.4 -> loop 2; 1.1 x 256 / 64 = 4.4 -> loop 4; 76.8 -> 2 x 64.
    assert plan.points == (128, 256) and plan.branch_examples == 128


@pytest.mark.parametrize(
    "config, settings, message",
    [
        (TINY, dict(multipliers=(2, 4)), "1 (the base batch, the reference)"),
        (TINY, dict(multipliers=(1, 4, 2)), "increasing integers"),
        (TINY, dict(branch_at=()), "branch_at is empty"),
        (TINY, dict(branch_at=(0.5, 0.6)), "lands on loop 2, as the point before it"),
        (TINY, dict(branch_at=(2.9,)), "the end of the run"),
        (TINY.replace(accumulation_steps=2), {}, "--strategy=mirrored --devices=2"),
        (
            TINY.replace(batch_schedule="steps", batch_schedule_options={"changes": [[0, 16]]}),
            {},
            "--batch_schedule=constant",
        ),
        (TINY.replace(model="nope"), {}, "unknown model 'nope'"),
    ],
)
def test_bad_input_is_one_clear_error(tmp_path, config, settings, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        plan_branches(config, CriticalBatchSettings(**{**_as_dict(SETTINGS), **settings}), "x")


def _as_dict(settings):
    return {
        "branch_at": settings.branch_at,
        "multipliers": settings.multipliers,
        "branch_passes": settings.branch_passes,
    }


def _reference(losses, tolerance):
    """Brute force: the largest k such that every k' <= k is finite and within tolerance."""
    ok = lambda k: math.isfinite(losses[k]) and losses[k] <= losses[1] + tolerance  # noqa: E731
    return max(k for k in losses if all(ok(j) for j in losses if j <= k))


@pytest.mark.parametrize(
    "losses, tolerance, expected",
    [
        ({1: 1.0, 2: 1.0, 4: 1.0, 8: 1.0}, 0.0, 8),  # equal losses keep up at tolerance 0
        ({1: 1.0, 2: 1.02, 4: 1.01}, 0.01, 1),  # 2 fails: 4 does not count
        ({1: 1.0, 2: 0.9, 4: 1.009, 8: 1.011}, 0.01, 4),
        ({1: 1.0, 2: math.nan, 4: 1.0}, 0.01, 1),  # diverged
        ({1: 1.0, 2: math.inf}, 0.5, 1),
        ({1: 2.0}, 0.01, 1),
        ({1: 0.5, 2: 0.505, 4: 0.52, 8: 0.70}, 0.01, 2),
        ({1: 0.5, 2: 0.505, 4: 0.52, 8: 0.70}, 0.05, 4),
    ],
)
def test_the_criterion_on_hand_tables(losses, tolerance, expected):
    assert critical_multiplier(losses, tolerance) == expected == _reference(losses, tolerance)


def test_the_criterion_against_the_reference_on_many_tables():
    for values in itertools.product((0.99, 1.0, 1.005, 1.02, math.nan), repeat=3):
        losses = dict(zip((1, 2, 4, 8), (1.0, *values)))
        assert critical_multiplier(losses, 0.01) == _reference(losses, 0.01), losses


def test_the_criterion_needs_the_reference():
    with pytest.raises(ValueError, match="k=1 branch has no finite loss"):
        critical_multiplier({2: 1.0}, 0.01)


def test_a_tiny_measurement_equals_its_runs(tmp_path):
    """Base run on 2 replicas (so B_simple is logged) and branches at 1 and 2 x 16 from one
    point: the table is what the branches' results.json and event files say."""
    config = TINY.replace(strategy="mirrored", devices=("2",), monitor_every_steps=1)
    settings = CriticalBatchSettings(branch_at=(0.5,), multipliers=(1, 2), branch_passes=0.25)
    lines = []
    summary = measure(config, settings, str(tmp_path), progress=lines.append)
    assert len(lines) == 3 and lines[1].startswith("[1/2] from 128 examples at 1 x")
    (point,) = summary["points"]
    losses = {}
    for row in point["branches"]:
        folder = tmp_path / "D128" / f"k{row['multiplier']}"
        with open(folder / "results.json") as f:
            results = json.load(f)
        # Stopped after D + Δ = 192 examples: step 8 + 64 / (16 k); evaluated there.
        assert results["examples"] == 192 and results["steps"] == 8 + 4 // row["multiplier"]
        eval_loss = _scalars(folder / "logs" / "eval", "loss")
        assert row["eval_loss"] == results["eval_loss"] == eval_loss[results["steps"]]
        losses[row["multiplier"]] = results["eval_loss"]
        rates = _scalars(folder / "logs" / "train", "learning_rate")
        base_rates = _scalars(tmp_path / "base" / "logs" / "train", "learning_rate")
        # The rate at D transferred by the linear rule: k x the base run's at step 8.
        assert rates[8] == pytest.approx(row["multiplier"] * base_rates[8], rel=1e-6)
    expected = 2 if losses[2] <= losses[1] + 0.01 else 1
    assert point["critical_multiplier"] == expected and point["critical_batch"] == 16 * expected
    # The k=1 branch is the base run continued: its loop's training loss is the base's.
    base_loss = _scalars(tmp_path / "base" / "logs" / "train", "loss")
    assert _scalars(tmp_path / "D128" / "k1" / "logs" / "train", "loss")[12] == base_loss[12]
    noise = _scalars(tmp_path / "base" / "logs" / "train", "noise_scale/b_simple")
    assert point["b_simple"] == pytest.approx(noise[max(s for s in noise if s <= 8)])
    assert point["ratio"] == pytest.approx(16 * expected / point["b_simple"])
    for name in ("critical_batch.json", "critical_batch.md", "critical_batch.png"):
        assert (tmp_path / name).exists()

    # Again: nothing is trained, nothing rewritten.
    records = {p: os.path.getmtime(p) for p in glob.glob(str(tmp_path / "D*" / "*" / "*.json"))}
    again = measure(config, settings, str(tmp_path), progress=lines.append)
    assert "complete; not training it again" in lines[3]
    assert again["points"] == summary["points"]
    assert {p: os.path.getmtime(p) for p in records} == records


def _scalars(log_dir, tag):
    """``{step: value}`` of ``tag``, read with TensorFlow's own event iterator."""
    curve = {}
    for path in glob.glob(os.path.join(log_dir, "events.out.tfevents.*")):
        for event in tf.compat.v1.train.summary_iterator(path):
            for value in event.summary.value:
                if value.tag == tag:
                    curve[event.step] = float(tf.make_ndarray(value.tensor))
    return curve
