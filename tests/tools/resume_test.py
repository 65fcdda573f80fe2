"""Preemption: kill a real training process, start it again, reach the same weights."""

import json
import os
import signal
import subprocess
import time

import keras
import numpy as np

import lbkeras  # noqa: F401  (registers LARS & co. for load_model)
from lbkeras.callbacks import latest_backup
from tests.tools.cli import environment, train, train_command, train_in_process

FLAGS = ("--epochs=6", "--seed=3", "--backup_every_seconds=0")


def _weights(model_dir):
    model = keras.saving.load_model(os.path.join(model_dir, "model.keras"))
    return [w.numpy() for w in model.weights] + [v.numpy() for v in model.optimizer.variables]


def _backed_up_epoch(model_dir):
    return latest_backup(os.path.join(model_dir, "backup"))


def test_killed_run_resumes_to_the_same_weights(tmp_path):
    data_dir = str(tmp_path / "data")
    reference_dir = str(tmp_path / "uninterrupted")
    done = train(reference_dir, data_dir, *FLAGS)
    assert done.returncode == 0, done.stderr[-3000:]

    model_dir = str(tmp_path / "preempted")
    process = subprocess.Popen(
        train_command(model_dir, data_dir, *FLAGS),
        env=environment(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 300
    while _backed_up_epoch(model_dir) < 2:
        assert process.poll() is None, "training ended before it could be killed"
        assert time.monotonic() < deadline, "no backup appeared"
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    killed_at = _backed_up_epoch(model_dir)
    assert 2 <= killed_at < 6, killed_at
    assert not os.path.exists(os.path.join(model_dir, "results.json"))

    resumed = train(model_dir, data_dir, *FLAGS)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    with open(os.path.join(model_dir, "results.json")) as f:
        assert json.load(f)["steps"] == 48
    for a, b in zip(_weights(model_dir), _weights(reference_dir)):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_a_different_config_in_the_same_model_dir_is_refused(tmp_path, capsys):
    data_dir = str(tmp_path / "data")
    model_dir = str(tmp_path / "run")
    assert train_in_process(model_dir, data_dir, "--epochs=2") == 0
    capsys.readouterr()
    assert train_in_process(model_dir, data_dir, "--epochs=2", "--global_batch_size=500") == 2
    assert "different config (global_batch_size)" in capsys.readouterr().err
