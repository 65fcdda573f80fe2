"""lbkeras-train end to end, through the real command line in a subprocess."""

import dataclasses
import json
import os
import re
import shutil

import keras
import numpy as np
import pytest

import lbkeras  # noqa: F401  (registers LARS & co. and SAMModel for load_model)
from lbkeras.training import ExperimentConfig
from tests.event_files import read_scalars
from tests.tools.cli import ROOT, TRAIN, results, train, train_in_process
from tools import train as train_tool

# An mlp on 64 synthetic examples at batch 16: 4 steps per pass.
TINY = (
    "--model=mlp",
    '--model_options={"hidden_units": [8]}',
    "--dataset=synthetic",
    '--dataset_options={"input_shape": [4], "num_classes": 2, "num_train": 64, "num_eval": 16}',
    "--global_batch_size=16",
)


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    return str(tmp_path_factory.mktemp("data"))


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory, data_dir):
    model_dir = str(tmp_path_factory.mktemp("run"))
    done = train(model_dir, data_dir, "--epochs=6")
    assert done.returncode == 0, done.stderr[-3000:]
    return model_dir, done


def test_run_writes_config_results_model_and_logs(finished_run):
    model_dir, done = finished_run
    assert "test accuracy" in done.stdout and "peak learning rate 0.976562" in done.stdout
    result = results(model_dir)
    assert result["steps"] == 48 and result["global_batch_size"] == 250
    assert result["passes"] == 6.0 and result["effective_batch_size"] == 250
    assert result["eval_accuracy"] > 0.3  # chance is 0.1
    assert result["examples_per_second"] > 0 and result["wall_seconds"] > 0
    with open(os.path.join(model_dir, "config.json")) as f:
        config = json.load(f)
    assert config["global_batch_size"] == 250 and config["optimizer"] == "lars"
    model = keras.saving.load_model(os.path.join(model_dir, "model.keras"))
    assert int(model.optimizer.iterations.numpy()) == 48
    assert not [name for name in os.listdir(model_dir) if name.startswith(".tmp")]


def test_rerunning_a_finished_run_keeps_its_results(finished_run, data_dir, tmp_path):
    model_dir = str(tmp_path / "again")
    shutil.copytree(finished_run[0], model_dir)
    before = results(model_dir)
    again = train(model_dir, data_dir, "--epochs=6")
    assert again.returncode == 0, again.stderr[-3000:]
    after = results(model_dir)
    assert after["steps"] == 48  # no step more
    assert after == before  # the finished run's, not NaN: nothing was rewritten


def test_tensorboard_learning_rate_matches_the_schedule(finished_run):
    model_dir, _ = finished_run
    logged = read_scalars(os.path.join(model_dir, "logs", "train"), "learning_rate")
    assert sorted(logged) == list(range(48))
    peak = 1.0 * 250 / 256  # linear rule
    for step, value in logged.items():  # 8 warmup steps, then LARS poly power 2 over 40
        expected = peak * step / 8 if step < 8 else peak * (1 - (step - 8) / 40) ** 2
        np.testing.assert_allclose(value, expected, rtol=1e-5, atol=1e-7, err_msg=str(step))


def test_eval_curves_by_default_and_every_scalar_on_the_step_axis(finished_run):
    model_dir, _ = finished_run
    train_dir = os.path.join(model_dir, "logs", "train")
    eval_dir = os.path.join(model_dir, "logs", "eval")
    loop_ends = list(range(8, 49, 8))  # 6 loops of 8 optimizer steps
    for log_dir, tag in [
        (train_dir, "loss"),
        (train_dir, "accuracy"),
        (train_dir, "examples_per_second"),
        (eval_dir, "loss"),
        (eval_dir, "accuracy"),
    ]:
        assert sorted(read_scalars(log_dir, tag)) == loop_ends, (log_dir, tag)
    accuracy = read_scalars(eval_dir, "accuracy")
    assert accuracy[48] == pytest.approx(results(model_dir)["eval_accuracy"], rel=1e-6)
    # One writer per split: one event file each.
    assert len(os.listdir(train_dir)) == 1 and len(os.listdir(eval_dir)) == 1


def test_hparams_compare_runs_on_eval_accuracy(finished_run, tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from tensorboard.plugins.hparams import metadata, plugin_data_pb2

    from tests.event_files import hparams_table

    model_dir = finished_run[0]
    log_dir = os.path.join(model_dir, "logs")
    eval_dir = os.path.join(log_dir, "eval")
    (name,) = os.listdir(eval_dir)  # the session shares the eval split's event file
    accumulator = EventAccumulator(os.path.join(eval_dir, name))
    accumulator.Reload()
    content = accumulator.PluginTagToContent(metadata.PLUGIN_NAME)
    session = plugin_data_pb2.HParamsPluginData.FromString(
        content[metadata.SESSION_START_INFO_TAG]
    ).session_start_info
    assert session.hparams["global_batch_size"].number_value == 250
    assert session.hparams["accumulation_steps"].number_value == 1
    assert session.hparams["optimizer"].string_value == "lars"
    assert "model_dir" not in session.hparams
    # The table's cells, as TensorBoard computes them, under --logdir=model_dir/logs and
    # under a folder of runs: the last eval scalars, the run's results.
    last = {f"eval {tag}": read_scalars(eval_dir, tag)[48] for tag in ("accuracy", "loss")}
    assert last["eval accuracy"] == pytest.approx(results(model_dir)["eval_accuracy"], rel=1e-6)
    assert hparams_table(log_dir) == {"eval": pytest.approx(last, rel=1e-6)}
    shutil.copytree(log_dir, tmp_path / "runs" / "run" / "logs")
    table = hparams_table(str(tmp_path / "runs"))
    assert table == {"run/logs/eval": pytest.approx(last, rel=1e-6)}


def test_help_documents_every_flag():
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, *TRAIN, "--help"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )
    settings = [field.name for field in dataclasses.fields(ExperimentConfig)]
    assert {"global_batch_size", "trust_ratio_scale", "sync_batch_norm"} <= set(settings)
    for name in [*settings, "config", "dry_run", "flagfile"]:
        assert re.search(rf"--(\[no\])?{name}\b", done.stdout), name
    for name in [*settings, "config", "dry_run"]:
        assert train_tool.FLAGS[name].help.strip(), f"--{name} has no help text"


# Two cases in a real process (the exit status a shell sees: a bad value, a flag that
# does not parse); the rest through the same main() in this process (TensorFlow is
# imported once instead of once per case).
@pytest.mark.parametrize(
    "flags, message",
    [
        (["--model=resnet7"], "unknown model 'resnet7'; choose one of: .*mnist1d_cnn"),
        (["--global_batch_size=many"], "global_batch_size"),
    ],
)
def test_bad_input_is_one_clear_line(tmp_path, data_dir, flags, message):
    model_dir = str(tmp_path / "run")
    done = train(model_dir, data_dir, "--epochs=2", *flags)
    _check_one_clear_line(done.returncode, done.stderr, message, model_dir)


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--dataset=cifar"], "unknown dataset 'cifar'; choose one of"),
        (["--optimizer=adamm"], "unknown optimizer 'adamm'; choose one of"),
        (["--schedule=triangle"], "schedule='triangle'; choose one of: polynomial"),
        (["--lr_scaling=cubic"], "lr_scaling='cubic'; choose one of: linear, sqrt"),
        (["--warmup_epochs=5"], r"warmup \(40 steps\) .*lower --warmup_epochs or raise --epochs"),
        (['--optimizer_options={"optimizer": "adamm"}', "--optimizer=lookahead"], "'adamm'"),
        (["--config=/nonexistent/config.json"], "/nonexistent/config.json"),
        (["--global_batch_size=0"], "global_batch_size"),
        (["--epochs=-1"], "epochs"),
        (["--dataset=imagenet", "--data_dir=/nonexistent/imagenet"], "/nonexistent/imagenet"),
        (["--model_options=[1]"], "model_options must be a JSON object"),
        (["--ghost_batch_size=100"], "ghost batch size 100 does not divide"),
        # A dry run: without the check, training would hang (strategy_test.py says why).
        (["--strategy=mirrored", "--devices=/gpu:0,/gpu:1", "--dry_run"], "no device /gpu:0, "),
        (["--devices=2", "--dry_run"], "devices are for strategy mirrored or one_device"),
    ],
)
def test_bad_input_in_process(tmp_path, data_dir, flags, message, capsys):
    model_dir = str(tmp_path / "run")
    code = train_in_process(model_dir, data_dir, "--epochs=2", *flags)
    _check_one_clear_line(code, capsys.readouterr().err, message, model_dir)


def _check_one_clear_line(code, stderr, message, model_dir):
    assert code == 2, stderr[-2000:]
    errors = [line for line in stderr.splitlines() if line.startswith("lbkeras-train")]
    assert len(errors) == 1 and re.search(message, errors[0]), stderr[-2000:]
    assert "Traceback" not in stderr
    assert not os.path.exists(model_dir) or os.listdir(model_dir) == []


def test_a_device_that_does_not_exist_is_refused_by_the_dry_run(tmp_path, data_dir):
    # Only one CPU device in a fresh process: TensorFlow would put /cpu:1 on /cpu:0, and
    # training would hang in the first all-reduce (tests/distribute/strategy_test.py).
    model_dir = str(tmp_path / "run")
    flags = ("--strategy=mirrored", "--devices=/cpu:0,/cpu:1", "--dry_run")
    done = train(model_dir, data_dir, *flags, timeout=120)
    message = r"no device /cpu:1 on this machine \(TensorFlow sees /cpu:0\): .* --devices=2"
    _check_one_clear_line(done.returncode, done.stderr, message, model_dir)


def test_a_device_count_trains_on_that_many_logical_cpus(tmp_path, data_dir):
    model_dir = str(tmp_path / "run")
    flags = ("--strategy=mirrored", "--devices=2", "--epochs=1", "--warmup_epochs=0.5")
    done = train(model_dir, data_dir, *flags, *TINY, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert results(model_dir)["num_replicas"] == 2 and results(model_dir)["steps"] == 4


def test_a_model_dir_that_is_a_file_is_one_clear_line(tmp_path, data_dir):
    model_dir = tmp_path / "notes.txt"
    model_dir.write_text("mine")
    for where in (model_dir, model_dir / "run"):
        done = train(str(where), data_dir, "--epochs=1", timeout=120)
        message = f"model_dir {where} is a file.*, not a folder: give .* folder for --model_dir"
        _check_one_clear_line(done.returncode, done.stderr, message, str(tmp_path / "none"))
        assert os.listdir(tmp_path) == ["notes.txt"] and model_dir.read_text() == "mine"


def test_corrupt_tfrecord_is_named(tmp_path, data_dir, capsys):
    imagenet = tmp_path / "imagenet"
    imagenet.mkdir()
    (imagenet / "train-00000-of-00001").write_bytes(os.urandom(256))
    (imagenet / "validation-00000-of-00001").write_bytes(os.urandom(256))
    model_dir = str(tmp_path / "run")
    flags = ("--dataset=imagenet", f"--data_dir={imagenet}", "--model=mlp", "--epochs=2")
    code = train_in_process(model_dir, data_dir, *flags)
    _check_one_clear_line(code, capsys.readouterr().err, "train-00000-of-00001", model_dir)


def test_nan_loss_stops_with_a_message(tmp_path, data_dir):
    model_dir = str(tmp_path / "run")
    done = train(model_dir, data_dir, "--optimizer=sgd", "--base_learning_rate=1e30", "--epochs=2")
    assert done.returncode == 3, done.stderr[-2000:]
    assert "loss became nan" in done.stderr or "loss became inf" in done.stderr
    assert not os.path.exists(os.path.join(model_dir, "results.json"))
    assert not os.path.exists(os.path.join(model_dir, "model.keras"))


def test_a_diverged_loss_stops_with_one_line(tmp_path, data_dir):
    # LAMB at 8x its default rate: loop means about 144, then 6.6e5, never NaN (the limit
    # is 100 x ln(10) = 230); before the divergence guard this ended with exit status 0.
    model_dir = str(tmp_path / "run")
    done = train(model_dir, data_dir, "--optimizer=lamb", "--base_learning_rate=8", "--epochs=3")
    assert done.returncode == 3, done.stderr[-2000:]
    errors = [line for line in done.stderr.splitlines() if line.startswith("lbkeras-train")]
    assert len(errors) == 1 and "Traceback" not in done.stderr, done.stderr[-2000:]
    assert re.search(r"is above 230.3 \(100 x ln\(10 classes\).*diverged", errors[0])
    assert "--base_learning_rate" in errors[0]
    assert not os.path.exists(os.path.join(model_dir, "results.json"))
    assert not os.path.exists(os.path.join(model_dir, "model.keras"))


def test_wrapper_flags_train_and_reload(tmp_path, data_dir):
    model_dir = str(tmp_path / "run")
    done = train(
        model_dir,
        data_dir,
        "--epochs=2",
        "--optimizer=momentum",
        "--base_learning_rate=0.1",
        "--trust_ratio=0.01",
        "--trust_ratio_scale=gradient",
        "--gradient_noise_eta=0.01",
        "--agc=0.05",
        "--lookahead=3",
        "--ghost_batch_size=125",
    )
    assert done.returncode == 0, done.stderr[-3000:]
    model = keras.saving.load_model(os.path.join(model_dir, "model.keras"))
    names = []
    optimizer = model.optimizer
    while hasattr(optimizer, "inner_optimizer"):
        names.append(type(optimizer).__name__)
        optimizer = optimizer.inner_optimizer
    assert names == ["Lookahead", "TrustRatio", "AdaptiveGradientClipping", "GradientNoise"]
    assert model.optimizer.inner_optimizer.scale == "gradient"
    assert results(model_dir)["steps"] == 16
    ghosts = [layer for layer in model.layers if type(layer).__name__ == "GhostBatchNormalization"]
    assert ghosts and all(layer.virtual_batch_size == 125 for layer in ghosts)


def test_accumulation_and_sam_flags(tmp_path, data_dir):
    model_dir = str(tmp_path / "run")
    done = train(model_dir, data_dir, "--epochs=2", "--accumulation_steps=2", "--sam_rho=0.05")
    assert done.returncode == 0, done.stderr[-3000:]
    result = results(model_dir)
    assert result["steps"] == 8  # optimizer updates: 16 micro-batches of 250, 2 per update
    assert result["peak_learning_rate"] == 1.0 * 500 / 256  # linear rule, effective batch
    model = keras.saving.load_model(os.path.join(model_dir, "model.keras"))
    assert type(model).__name__ == "SAMModel" and model.rho == 0.05
    assert type(model.optimizer).__name__ == "GradientAccumulation"
    logged = read_scalars(os.path.join(model_dir, "logs", "train"), "learning_rate")
    assert sorted(logged) == list(range(8))


def test_dry_run_prints_the_plan_and_plots_the_schedule(tmp_path, data_dir, capsys):
    import tensorflow as tf

    from lbkeras.training import plan

    model_dir = str(tmp_path / "look")
    code = train_in_process(
        model_dir, data_dir, "--epochs=5", "--global_batch_size=300", "--dry_run"
    )
    out = capsys.readouterr().out
    assert code == 0, out[-3000:]
    printed = dict(line.split(None, 1) for line in out.splitlines() if line.strip())
    expected = plan(ExperimentConfig(global_batch_size=300, epochs=5.0, warmup_epochs=1.0), 2000, 1)
    assert expected.total_steps == 33  # round(5 * 2000 / 300)
    for key in ("total_steps", "warmup_steps", "loops", "steps_per_loop", "num_replicas"):
        assert int(printed[key]) == getattr(expected, key), key
    assert float(printed["peak_learning_rate"]) == pytest.approx(300 / 256, rel=1e-5)
    assert printed["optimizer"] == "LARS"
    assert os.listdir(model_dir) == ["learning_rate.png"]  # nothing else: no run was started
    with open(os.path.join(model_dir, "learning_rate.png"), "rb") as f:
        image = tf.io.decode_png(f.read())
    assert image.shape[0] >= 300 and image.shape[1] >= 600
    assert len(np.unique(image.numpy().reshape(-1, image.shape[-1]), axis=0)) > 10  # drawn


def test_a_config_json_reruns_with_overrides(finished_run, data_dir, tmp_path):
    model_dir = str(tmp_path / "again")
    source = os.path.join(finished_run[0], "config.json")
    assert (
        train_in_process(model_dir, data_dir, f"--config={source}", "--epochs=2", "--seed=4") == 0
    )
    with open(source) as f:
        before = json.load(f)
    with open(os.path.join(model_dir, "config.json")) as f:
        after = json.load(f)
    assert after == {**before, "epochs": 2.0, "seed": 4, "model_dir": model_dir}
    assert results(model_dir)["steps"] == 16
