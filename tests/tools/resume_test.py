"""Preemption: kill a real training process, start it again, reach the same weights."""

import json
import os
import shutil
import signal
import subprocess
import time

import keras
import numpy as np

import lbkeras  # noqa: F401  (registers LARS & co. for load_model)
from lbkeras.callbacks import latest_backup
from tests.tools.cli import environment, results, train, train_command, train_in_process

FLAGS = ("--epochs=6", "--seed=3", "--backup_every_seconds=0")


def _weights(model_dir, name="model.keras"):
    model = keras.saving.load_model(os.path.join(model_dir, name))
    return [w.numpy() for w in model.weights] + [v.numpy() for v in model.optimizer.variables]


def _backed_up_epoch(model_dir):
    return latest_backup(os.path.join(model_dir, "backup"))


# The batch grows from 250 to 500 after 3 of the 6 passes over 2,000 examples: 24 steps of
# 250, then 12 of 500, in 6 loops of 6; killed after loop 2, the restart crosses the change.
GROWN = '{"passes": [[0, 250], [3, 500]]}'
KILL_FLAGS = (
    *FLAGS,
    "--global_batch_size=500",
    "--batch_schedule=steps",
    f"--batch_schedule_options={GROWN}",
)


def test_killed_run_resumes_to_the_same_weights(tmp_path):
    data_dir = str(tmp_path / "data")
    reference_dir = str(tmp_path / "uninterrupted")
    done = train(reference_dir, data_dir, *KILL_FLAGS)
    assert done.returncode == 0, done.stderr[-3000:]

    model_dir = str(tmp_path / "preempted")
    process = subprocess.Popen(
        train_command(model_dir, data_dir, *KILL_FLAGS),
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
    assert 2 <= killed_at < 4, killed_at  # before the change at step 24 (loop 4)
    assert not os.path.exists(os.path.join(model_dir, "results.json"))

    resumed = train(model_dir, data_dir, *KILL_FLAGS)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    with open(os.path.join(model_dir, "results.json")) as f:
        history = json.load(f)["batch_history"]
    assert [(s["batch_size"], s["steps"]) for s in history] == [(250, 24), (500, 12)]
    for a, b in zip(_weights(model_dir), _weights(reference_dir)):
        np.testing.assert_array_equal(a, b)  # bit for bit: the trainer is deterministic


def test_a_different_config_in_the_same_model_dir_is_refused(tmp_path, capsys):
    data_dir = str(tmp_path / "data")
    model_dir = str(tmp_path / "run")
    assert train_in_process(model_dir, data_dir, "--epochs=2") == 0
    capsys.readouterr()
    assert train_in_process(model_dir, data_dir, "--epochs=2", "--global_batch_size=500") == 2
    assert "different config (global_batch_size)" in capsys.readouterr().err


# 2,000 examples at batch 300: 40 steps in 6 loops of 7, the last one of 5 (a run
# resumed at loop 6 must start at step 40, not 42).
SHORT_LAST_LOOP = ("--model=mlp", "--global_batch_size=300", *FLAGS)


def _files(model_dir):
    """Every file in ``model_dir`` with its modification time."""
    return {
        os.path.join(folder, name): os.stat(os.path.join(folder, name)).st_mtime_ns
        for folder, _, names in os.walk(model_dir)
        for name in names
    }


def test_a_run_stopped_after_its_last_backup_finishes_and_a_complete_one_trains_nothing(
    tmp_path,
):
    data_dir, model_dir = str(tmp_path / "data"), str(tmp_path / "run")
    done = train(model_dir, data_dir, *SHORT_LAST_LOOP)
    assert done.returncode == 0, done.stderr[-3000:]
    uninterrupted = results(model_dir)
    assert uninterrupted["steps"] == 40 and _backed_up_epoch(model_dir) == 6
    shutil.copy(os.path.join(model_dir, "model.keras"), tmp_path / "uninterrupted.keras")

    # Killed after the backup of the last loop, before the model and results were written.
    os.remove(os.path.join(model_dir, "model.keras"))
    os.remove(os.path.join(model_dir, "results.json"))
    finished = train(model_dir, data_dir, *SHORT_LAST_LOOP)
    assert finished.returncode == 0, finished.stderr[-3000:]
    for a, b in zip(_weights(model_dir), _weights(str(tmp_path), "uninterrupted.keras")):
        np.testing.assert_array_equal(a, b)
    # The training figures and the last loop's evaluation are the ones kept with the
    # backup; the wall time is measured until the backup rather than the end of fit.
    again = results(model_dir)
    assert again.pop("wall_seconds") > 0 and uninterrupted.pop("wall_seconds") > 0
    assert again == uninterrupted

    files = _files(model_dir)
    complete = train(model_dir, data_dir, *SHORT_LAST_LOOP)
    assert complete.returncode == 0, complete.stderr[-3000:]
    results_path = os.path.join(model_dir, "results.json")
    said = [line for line in complete.stderr.splitlines() if "is complete" in line]
    assert len(said) == 1 and results_path in said[0], complete.stderr[-3000:]
    assert _files(model_dir) == files  # nothing trained, nothing written
