"""The branched critical-batch measurement (lbkeras.tuning.critical_batch): the plan against
a hand table, the criterion against an independent reference, bad input, and one real
measurement on a problem whose critical batch is known (logistic regression, its noise
scale computed exactly): its table equals what its runs' results.json and event files
say, and its answer agrees with the exact noise scale's."""

from __future__ import annotations

import glob
import itertools
import json
import math
import os

import numpy as np
import pytest
import tensorflow as tf

from lbkeras.analysis.noise_scale import (
    dense_hessian,
    exact_b_noise,
    exact_b_simple,
    per_example_gradients,
)
from lbkeras.training import ExperimentConfig
from lbkeras.tuning.critical_batch import (
    CriticalBatchSettings,
    critical_multiplier,
    measure,
    plan_branches,
    point_model,
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


# Logistic regression on 2,000 MNIST-1D examples, plain SGD at batch 8 on 2 replicas (so
# the base run logs B_simple): a problem whose critical batch is known from the exact
# noise scale (per-example gradients and the Hessian at the branch point). 250 steps a
# pass, 4 passes; branches from 0.25 passes (early: small noise scale) and 3 passes (late:
# large), each 0.5 passes long (1,024 examples) at 1, 4 and 16 x 8.
KNOWN = ExperimentConfig(
    model="mlp",
    model_options={"hidden_units": []},
    dataset="mnist1d",
    dataset_options={"num_train": 2000, "num_eval": 1000},
    optimizer="sgd",
    momentum=0.0,
    base_learning_rate=0.2,
    base_batch_size=8,
    global_batch_size=8,
    lr_scaling="linear",
    weight_decay=0.0,
    epochs=4,
    warmup_epochs=0.0,
    steps_per_loop=62,
    strategy="mirrored",
    devices=("2",),
    monitor_every_steps=1,
    verbose=0,
)
KNOWN_SETTINGS = CriticalBatchSettings(
    branch_at=(0.25, 3.0), multipliers=(1, 4, 16), branch_passes=0.5, tolerance=0.001
)


@pytest.fixture(scope="module")
def known(tmp_path_factory):
    """The measurement on the known problem (7 trainer processes, about 40 s), and the
    progress lines it printed."""
    out = tmp_path_factory.mktemp("known")
    config = KNOWN.replace(data_dir=str(out / "data"))
    lines = []
    summary = measure(config, KNOWN_SETTINGS, str(out / "measurement"), progress=lines.append)
    return out / "measurement", config, summary, lines


def test_the_table_equals_its_runs(known):
    out, _, summary, lines = known
    assert len(lines) == 7 and lines[1].startswith("[1/6] from 496 examples at 1 x")
    assert [p["examples"] for p in summary["points"]] == [496, 5952]  # loops 1 and 12 of 62
    # Δ: 0.5 passes = 1000 examples, rounded up to whole steps at the largest batch, 128.
    assert summary["branch_examples"] == 1024
    base_rates = _scalars(out / "base" / "logs" / "train", "learning_rate")
    base_loss = _scalars(out / "base" / "logs" / "train", "loss")
    noise = _scalars(out / "base" / "logs" / "train", "noise_scale/b_simple")
    for point in summary["points"]:
        first, losses = point["examples"] // 8, {}
        for row in point["branches"]:
            k, folder = row["multiplier"], out / f"D{point['examples']}" / f"k{row['multiplier']}"
            with open(folder / "results.json") as f:
                results = json.load(f)
            # Stopped after D + Δ examples, Δ / 8k steps; evaluated there.
            assert results["examples"] == point["examples"] + 1024
            assert results["steps"] == first + 1024 // (8 * k) == first + row["steps"]
            eval_loss = _scalars(folder / "logs" / "eval", "loss")
            assert row["eval_loss"] == results["eval_loss"] == eval_loss[results["steps"]]
            losses[k] = row["eval_loss"]
            # The rate at D transferred by the linear rule: k x the base run's there.
            rates = _scalars(folder / "logs" / "train", "learning_rate")
            assert rates[first] == pytest.approx(k * base_rates[first], rel=1e-6)
        expected = _reference(losses, KNOWN_SETTINGS.tolerance)
        assert point["critical_multiplier"] == expected and point["critical_batch"] == 8 * expected
        assert point["b_simple"] == pytest.approx(noise[max(s for s in noise if s <= first)])
        assert point["ratio"] == pytest.approx(8 * expected / point["b_simple"])
    # The k=1 branch is the base run continued: its first loop's training loss is the base's.
    assert _scalars(out / "D496" / "k1" / "logs" / "train", "loss")[124] == base_loss[124]
    for name in ("critical_batch.json", "critical_batch.md", "critical_batch.png"):
        assert (out / name).exists()


def test_the_branches_agree_with_the_exact_noise_scale(known):
    """McCandlish et al.'s model of SGD: near a point, a step at batch B makes the progress
    of ``B / (B + B_noise)`` of one at an unbounded batch, so over the same examples the
    batch ``k b`` falls behind the batch ``b`` by the share ``(k b - b) / (k b + B_noise)``
    of the k=1 branch's loss drop. It keeps up (within ε) when that is at most
    ``ε / drop``. Where the model says so by a factor of 3 or more, the measurement must
    agree, in both directions; B_noise and B_simple are computed exactly at the branch
    point from every example's gradient and the Hessian."""
    out, config, summary, _ = known
    eval_loss = _scalars(out / "base" / "logs" / "eval", "loss")
    checked = {True: 0, False: 0}
    for point in summary["points"]:
        model, source = point_model(str(out), point["examples"])
        # The restored model is the base run's at D: its eval loss is the one logged there.
        x_eval, y_eval = source.arrays("eval")
        at_d = float(np.mean(model.loss(y_eval, model(x_eval, training=False)).numpy()))
        assert at_d == pytest.approx(eval_loss[point["examples"] // 8], rel=1e-5)
        x, y = source.arrays("train")
        grads = np.concatenate(list(per_example_gradients(model, x, y)))
        b_simple = exact_b_simple([grads])
        b_noise = exact_b_noise(grads, dense_hessian(model, x, y))
        # The replicas' running estimate of B_simple, against the exact value (measured
        # 0.72 and 1.02 of it).
        assert 0.5 <= point["b_simple"] / b_simple <= 2.0, (point["b_simple"], b_simple)
        rows = {row["multiplier"]: row for row in point["branches"]}
        allowed = KNOWN_SETTINGS.tolerance / (at_d - rows[1]["eval_loss"])
        for k, row in rows.items():
            behind = (8 * k - 8) / (8 * k + b_noise)
            if k > 1 and (behind <= allowed / 3 or behind >= 3 * allowed):
                assert row["keeps_up"] == (behind <= allowed / 3), (point["examples"], k, b_noise)
                checked[row["keeps_up"]] += 1
    # Both directions were tested: the early point's larger batches fall behind, the late
    # point's keep up (B_noise about 100 after 0.25 passes, about 2,700 after 3).
    assert checked[True] >= 2 and checked[False] >= 2, checked


def test_measuring_again_trains_nothing(known):
    out, config, summary, _ = known
    records = {p: os.path.getmtime(p) for p in glob.glob(str(out / "D*" / "*" / "*.json"))}
    lines = []
    again = measure(config, KNOWN_SETTINGS, str(out), progress=lines.append)
    assert "complete; not training it again" in lines[0]
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
