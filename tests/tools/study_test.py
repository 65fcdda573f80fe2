"""lbkeras-study: bad input, and a tiny real study end to end (trainer subprocesses)."""

from __future__ import annotations

import glob
import json
import os
import subprocess
import sys

import pytest
import tensorflow as tf

from lbkeras.tuning import study_report
from tests.tools.cli import ROOT, environment, tool_in_process
from tools import study as study_tool

TARGET = 0.3
RECIPE = """# a tiny recipe for the study test
--model=mlp
--dataset=mnist1d
--optimizer=momentum
--base_learning_rate=0.05
--base_batch_size=64
--lr_scaling=linear
--schedule=cosine
--warmup_epochs=1
--epochs=4
--accumulation_steps=2
--monitor_every_steps=1
"""


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    return str(tmp_path_factory.mktemp("data"))


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--recipes=no/such/recipe.cfg"], "no flagfile no/such/recipe.cfg"),
        (["--batch_sizes="], "batch_sizes is empty"),
        (["--target=1.5"], "can never be reached"),
        (["--trials=0"], "trials"),
        (["--batch_sizes=64,100000"], "larger than the 2000 training examples"),
        (["--recipes={recipe}", "--optimizer=nope"], "unknown optimizer 'nope'"),
    ],
)
def test_bad_input_exits_2_and_writes_nothing(tmp_path, data_dir, capsys, flags, message):
    recipe = _write_recipe(tmp_path)
    study_dir = tmp_path / "study"
    argv = _study_flags(study_dir, data_dir, *(f.format(recipe=recipe) for f in flags))
    code = tool_in_process(study_tool, "lbkeras-study", *argv)
    stderr = capsys.readouterr().err
    errors = [line for line in stderr.splitlines() if "lbkeras-study" in line]
    assert code == 2, stderr[-2000:]
    assert len(errors) == 1 and message in errors[0], stderr[-2000:]
    assert not study_dir.exists()


def test_a_tiny_study_end_to_end(tmp_path, data_dir):
    recipe = _write_recipe(tmp_path)
    study_dir = tmp_path / "study"
    flags = [f"--recipes={recipe}", "--batch_sizes=64,256", "--trials=2", "--parallel=2"]
    done = _study(study_dir, data_dir, *flags)
    assert done.returncode == 0, done.stderr[-3000:]
    assert len([line for line in done.stdout.splitlines() if line.startswith("[")]) == 4

    names = {"study.json", "study.csv", "study.md", *study_report.PLOTS}
    assert names <= set(os.listdir(study_dir))
    for plot in study_report.PLOTS:
        with open(study_dir / plot, "rb") as f:
            assert f.read(8) == b"\x89PNG\r\n\x1a\n"
    with open(study_dir / "study.json") as f:
        summary = json.load(f)
    rows = summary["recipes"]["tiny"]["rows"]
    assert [row["batch_size"] for row in rows] == [64, 256]
    assert any(row["steps_to_target"] is not None for row in rows), rows
    assert "measured B_simple at the target" in (study_dir / "study.md").read_text()
    for row in rows:
        _check_row_against_its_trials(study_dir / "tiny" / f"b{row['batch_size']}", row)
    csv_lines = (study_dir / "study.csv").read_text().splitlines()
    assert csv_lines[0].split(",") == list(study_report.COLUMNS)
    assert len(csv_lines) == 3
    assert csv_lines[1].split(",")[:2] == ["tiny", "64"]

    # The same command again: every trial is skipped, no trial folder changes.
    before = _trial_files(study_dir)
    again = _study(study_dir, data_dir, *flags)
    assert again.returncode == 0, again.stderr[-3000:]
    assert "4 of 4 trials already finished" in again.stdout
    assert _trial_files(study_dir) == before


def _check_row_against_its_trials(batch_dir, row):
    """The row equals what its trials' own results.json and eval event files say."""
    results, reached = {}, {}
    for trial in sorted(glob.glob(str(batch_dir / "t*"))):
        with open(os.path.join(trial, "results.json")) as f:
            results[trial] = json.load(f)
        curve = _scalars(os.path.join(trial, "logs", "eval"), "accuracy")
        first = [step for step in sorted(curve) if curve[step] >= TARGET]
        reached[trial] = first[0] if first else None
    assert len(results) == 2
    assert row["best_eval_accuracy"] == pytest.approx(
        max(r["eval_accuracy"] for r in results.values())
    )
    assert row["trials_reaching_target"] == sum(s is not None for s in reached.values())
    candidates = [t for t in results if reached[t] is not None] or list(results)
    best = min(
        candidates,
        key=lambda t: (reached[t] or 0, -results[t]["eval_accuracy"]),
    )
    assert row["steps_to_target"] == reached[best]
    assert row["eval_accuracy"] == pytest.approx(results[best]["eval_accuracy"])
    assert row["learning_rate"] == pytest.approx(results[best]["peak_learning_rate"])
    if reached[best] is not None:
        assert row["examples_to_target"] == reached[best] * row["batch_size"]
        # Two micro-batches per update: the noise scale was measured; the row has the last
        # value logged at or before the step that reached the target.
        noise = _scalars(os.path.join(best, "logs", "train"), "noise_scale/b_simple")
        assert row["b_simple_at_target"] == pytest.approx(
            noise[max(step for step in noise if step <= reached[best])]
        )


def _scalars(log_dir, tag):
    """``{step: value}`` of ``tag``, read with TensorFlow's own event iterator."""
    curve = {}
    for path in glob.glob(os.path.join(log_dir, "events.out.tfevents.*")):
        for event in tf.compat.v1.train.summary_iterator(path):
            for value in event.summary.value:
                if value.tag == tag:
                    curve[event.step] = float(tf.make_ndarray(value.tensor))
    return curve


def _trial_files(study_dir):
    return {
        path: os.path.getmtime(path)
        for path in glob.glob(str(study_dir / "tiny" / "*" / "*" / "*.json"))
    }


def _write_recipe(tmp_path):
    path = tmp_path / "tiny.cfg"
    path.write_text(RECIPE)
    return path


def _study(study_dir, data_dir, *flags):
    command = [sys.executable, "-m", "tools.study", *_study_flags(study_dir, data_dir, *flags)]
    return subprocess.run(
        command, capture_output=True, text=True, timeout=600, cwd=ROOT, env=environment()
    )


def _study_flags(study_dir, data_dir, *flags):
    return [
        f"--model_dir={study_dir}",
        f"--data_dir={data_dir}",
        '--dataset_options={"num_train": 2000, "num_eval": 500}',
        f"--target={TARGET}",
        "--evals_per_run=4",
        *flags,
    ]


LM_TARGET = 4.5
LM_RECIPE = """# a tiny language model for the study test
--model=transformer_lm
--model_options={"num_layers": 1, "width": 16, "num_heads": 2}
--dataset=text
--dataset_options={"context": 16}
--optimizer=adamw
--base_learning_rate=0.01
--base_batch_size=16
--weight_decay=0.01
--warmup_epochs=0.1
--train_tokens=7680
"""


def _lm_study_flags(tmp_path, *flags):
    from tests.training.lm_common import write_corpus as _write_corpus

    (tmp_path / "text").mkdir(exist_ok=True)
    _write_corpus(tmp_path / "text")
    recipe = tmp_path / "lm.cfg"
    recipe.write_text(LM_RECIPE)
    return [
        f"--model_dir={tmp_path / 'study'}",
        f"--data_dir={tmp_path / 'text'}",
        f"--recipes={recipe}",
        "--batch_sizes=8,16",
        "--trials=1",
        "--evals_per_run=3",
        *flags,
    ]


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--target_metric=eval_perplexity"], "target_metric='eval_perplexity' is not an eval"),
        (["--target=0"], "can never be reached: eval_loss is positive"),
    ],
)
def test_bad_target_metrics_exit_2_and_write_nothing(tmp_path, capsys, flags, message):
    argv = _lm_study_flags(tmp_path, *flags)
    code = tool_in_process(study_tool, "lbkeras-study", *argv)
    stderr = capsys.readouterr().err
    errors = [line for line in stderr.splitlines() if "lbkeras-study" in line]
    assert code == 2, stderr[-2000:]
    assert len(errors) == 1 and message in errors[0], stderr[-2000:]
    assert not (tmp_path / "study").exists()


def test_a_language_model_study_reaches_an_eval_loss(tmp_path):
    """The default target metric of a language model is its eval loss, reached at or
    below the target: steps to it as the trials' eval event files say."""
    command = [sys.executable, "-m", "tools.study", *_lm_study_flags(tmp_path)]
    command.append(f"--target={LM_TARGET}")
    done = subprocess.run(
        command, capture_output=True, text=True, timeout=600, cwd=ROOT, env=environment()
    )
    assert done.returncode == 0, done.stderr[-3000:]
    study_dir = tmp_path / "study"
    with open(study_dir / "study.json") as f:
        summary = json.load(f)
    assert summary["settings"]["target_metric"] == "eval_loss"
    assert summary["settings"]["lower_is_better"] is True
    assert f"Steps to eval_loss <= {LM_TARGET}" in (study_dir / "study.md").read_text()
    rows = summary["recipes"]["lm"]["rows"]
    assert [row["batch_size"] for row in rows] == [8, 16]
    for row in rows:
        trial = study_dir / "lm" / f"b{row['batch_size']}" / "t0"
        curve = _scalars(os.path.join(trial, "logs", "eval"), "loss")
        with open(trial / "results.json") as f:
            results = json.load(f)
        assert results["steps"] == 7680 // (16 * row["batch_size"])
        assert curve[results["steps"]] == pytest.approx(results["eval_loss"], rel=1e-6)
        first = min(step for step in curve if curve[step] <= LM_TARGET)
        assert row["steps_to_target"] == first
        assert row["examples_to_target"] == first * row["batch_size"]
