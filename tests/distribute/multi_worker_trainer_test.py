"""The trainer on 2 real MultiWorkerMirroredStrategy workers on 127.0.0.1.

Synchronised batch norm: two workers with ``--sync_batch_norm`` train ``mnist1d_cnn``
(the default model, 4 batch norms) to the weights, batch-norm moving statistics
included, of one process with the same global batch; without it each worker normalises
by its own half-batch and the weights differ. Preemption: a worker killed mid-run, both
restarted with the same flags, agree on a backup, resume there and finish with the
weights of an uninterrupted run, across a change of the batch (an adaptive schedule, which
the workers decide alike, grows the global batch from 128 to 256 after 1,000 examples);
the workers back up the same loops even when their backup clocks disagree. Killed after
the backup of the last (shorter) loop, restarted workers write the model and results;
restarted after that, they train nothing.

Tolerance: the two-worker batch statistics are the one-process ones up to float
rounding (both are E[x^2] - E[x]^2: Keras computes synchronised moments so on one
process too, in the default replica context), as are the all-reduced gradients. But
LARS at the default peak rate (~1) amplifies rounding about 2x per step, so no fixed
tolerance is safe: with rtol=1e-4, atol=1e-5 the synced run ended at ~1% of it on most
seeds, 7% with --seed=3, and once (a fresh clone's CI) just past it. So the run is
short, 8 steps (4 of warmup, 4 of decay), and the test compares distances measured in
the same run: the synced workers must be at least ``SYNC_MARGIN`` times closer to one
process than unsynced workers are (measured: >1000x; a broken sync is ~1x).
"""

from __future__ import annotations

import contextlib
import glob
import json
import os
import signal
import subprocess
import time

import keras
import numpy as np
import pytest
import tensorflow as tf

import lbkeras  # noqa: F401  (registers LARS & co. for load_model)
from lbkeras.callbacks import backed_up_epochs, latest_backup
from lbkeras.data.mnist1d import load_mnist1d
from tests.tools.cli import environment, free_ports, results, train, train_command

# One pass (8 steps of tests/tools/cli.py SMALL, all of warmup) in 8 loops of 1 step, each
# backed up, evaluated at the end only.
STEPS_PER_LOOP, LOOPS = 1, 8
FLAGS = (
    "--epochs=1",
    "--warmup_epochs=0.5",
    f"--steps_per_loop={STEPS_PER_LOOP}",
    "--eval_every_loops=0",
    "--backup_every_seconds=0",
    "--seed=7",
)
SYNC_FLAGS = (*FLAGS, "--sync_batch_norm")
# The same pass with the batch grown by an adaptive schedule from 128 to 256 at the first
# loop end after 1,000 examples (a tiny threshold: it grows at every check, whatever B_simple
# measures, so the uninterrupted and the restarted runs decide alike): 8 steps of 128 (all of
# warmup), then 4 of 256 (to 2,048 examples), in 12 loops of 1 step. The decision stops fit
# on both workers, which go on from the backup of that loop with the new plan.
ADAPTIVE_LOOPS, ADAPTIVE_CHANGE = 12, 8
ADAPTIVE = '{"batch_size": 128, "threshold": 1e-6, "check_every": 1000}'
ADAPTIVE_FLAGS = (
    *SYNC_FLAGS,
    "--global_batch_size=256",
    "--batch_schedule=adaptive",
    f"--batch_schedule_options={ADAPTIVE}",
    "--monitor_every_steps=1",
)
RTOL, ATOL = 1e-4, 1e-5  # the unit of _worst's distance
SYNC_MARGIN = 100


def _start_workers(model_dir, data_dir, log_dir, *flags, worker_flags=((), ())):
    """Starts worker 0 (the chief) and worker 1 of a 2-worker cluster on free ports.

    ``worker_flags`` are each worker's own flags after ``flags`` (later flags win).
    """
    cluster = {"worker": [f"127.0.0.1:{port}" for port in free_ports(2)]}
    workers = []
    for index in range(2):
        env = environment()
        env["TF_CONFIG"] = json.dumps(
            {"cluster": cluster, "task": {"type": "worker", "index": index}}
        )
        # Output to a file: a pipe nobody reads while the test waits could fill and block.
        with open(os.path.join(log_dir, f"worker-{index}.log"), "a") as log:
            workers.append(
                subprocess.Popen(
                    train_command(
                        model_dir,
                        data_dir,
                        *flags,
                        *worker_flags[index],
                        "--strategy=multi_worker",
                    ),
                    env=env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            )
    return workers


def _run_workers(model_dir, data_dir, log_dir, *flags, timeout=300, worker_flags=((), ())):
    """Runs a 2-worker cluster to its end; fails with the log of a worker that failed."""
    workers = _start_workers(model_dir, data_dir, log_dir, *flags, worker_flags=worker_flags)
    try:
        for worker in workers:
            worker.wait(timeout=timeout)
    finally:
        _kill(workers)
    for index, worker in enumerate(workers):
        if worker.returncode != 0:
            with open(os.path.join(log_dir, f"worker-{index}.log")) as f:
                pytest.fail(f"worker {index} exited {worker.returncode}:\n{f.read()[-3000:]}")


def _kill(workers):
    for worker in workers:
        if worker.poll() is None:
            worker.send_signal(signal.SIGKILL)
            worker.wait()


def _weights(path, optimizer=False):
    """Every variable of the saved model (BN moving statistics too) by path; or the optimizer's."""
    model = keras.saving.load_model(path)
    variables = model.weights + (model.optimizer.variables if optimizer else [])
    # GradientStatistics's rows and rows_written are listed twice (the same variable,
    # tracked from the attribute and by _track_variable; dropping the second broke the
    # 2-replica statistics test, not investigated further).
    variables = list({id(v): v for v in variables}.values())
    weights = {v.path: v.numpy() for v in variables}
    assert len(weights) == len(variables), "variable paths are not unique"
    return weights


def _workers_weights(model_dir, optimizer=False):
    """The chief's weights, after checking that worker 1 saved the very same."""
    chief = _weights(os.path.join(model_dir, "model.keras"), optimizer)
    other = _weights(os.path.join(model_dir, "workers", "worker-1", "model.keras"), optimizer)
    assert sorted(chief) == sorted(other)
    for key in chief:
        np.testing.assert_array_equal(chief[key], other[key], err_msg=key)
    return chief


def _worst(a, b):
    """max |a - b| / (ATOL + RTOL |b|) over all variables: above 1 fails assert_allclose."""
    return max(float(np.max(np.abs(a[k] - b[k]) / (ATOL + RTOL * np.abs(b[k])))) for k in b)


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    """MNIST-1D of tests/tools/cli.py SMALL, generated once: the workers only read it."""
    folder = str(tmp_path_factory.mktemp("data"))
    load_mnist1d(folder, num_train=2000, num_test=500)
    return folder


@pytest.fixture(scope="module")
def one_process(data_dir, tmp_path_factory):
    """The weights of one process (default strategy) with sync BN, i.e. plain BN."""
    model_dir = str(tmp_path_factory.mktemp("one_process"))
    done = train(model_dir, data_dir, *SYNC_FLAGS)
    assert done.returncode == 0, done.stderr[-3000:]
    assert results(model_dir)["steps"] == STEPS_PER_LOOP * LOOPS
    return _weights(os.path.join(model_dir, "model.keras"))


@pytest.fixture(scope="module")
def two_workers_synced(data_dir, tmp_path_factory):
    """The model_dir of an uninterrupted 2-worker run with sync BN."""
    folder = tmp_path_factory.mktemp("two_workers_synced")
    model_dir = str(folder / "run")
    _run_workers(model_dir, data_dir, str(folder), *SYNC_FLAGS)
    return model_dir


@pytest.fixture(scope="module")
def two_workers_unsynced(data_dir, tmp_path_factory):
    """The weights of an uninterrupted 2-worker run without sync BN."""
    folder = tmp_path_factory.mktemp("two_workers_unsynced")
    model_dir = str(folder / "run")
    _run_workers(model_dir, data_dir, str(folder), *FLAGS)
    return _workers_weights(model_dir)


@pytest.fixture(scope="module")
def two_workers_adaptive(data_dir, tmp_path_factory):
    """The model_dir of an uninterrupted 2-worker run with sync BN and an adaptive batch."""
    folder = tmp_path_factory.mktemp("two_workers_adaptive")
    model_dir = str(folder / "run")
    _run_workers(model_dir, data_dir, str(folder), *ADAPTIVE_FLAGS)
    return model_dir


def test_two_workers_with_sync_batch_norm_train_like_one_process(
    one_process, two_workers_synced, two_workers_unsynced
):
    assert results(two_workers_synced)["num_replicas"] == 2
    assert results(two_workers_synced)["steps"] == STEPS_PER_LOOP * LOOPS
    weights = _workers_weights(two_workers_synced)
    assert sorted(weights) == sorted(one_process)
    assert sum(key.endswith("moving_variance") for key in weights) == 4
    synced = _worst(weights, one_process)
    unsynced = _worst(two_workers_unsynced, one_process)
    print(f"distance to one process: sync BN {synced:.3g}, plain BN {unsynced:.3g}")
    assert synced * SYNC_MARGIN < unsynced


def test_two_workers_without_sync_batch_norm_differ_from_one_process(
    one_process, two_workers_unsynced
):
    worst = _worst(two_workers_unsynced, one_process)
    print(f"plain BN: {worst:.3g} times the tolerance")
    assert worst > 100


def _learning_rate_steps(event_file):
    """The steps whose learning rate the chief logged (TensorBoard) in ``event_file``."""
    return [
        event.step
        for event in tf.compat.v1.train.summary_iterator(event_file)
        for value in event.summary.value
        if value.tag == "learning_rate"
    ]


def _train_event_files(model_dir):
    return set(glob.glob(os.path.join(model_dir, "logs", "train", "events.out.tfevents.*")))


# Worker 1's backup period outlasts training: the workers must back up together all the
# same (each times --backup_every_seconds on its own clock; deciding alone, one could back
# up the odd loops and the other the even ones, leaving a restart no loop both have).
CLOCKS = ((), ("--backup_every_seconds=3600",))


def test_a_killed_worker_and_its_peer_restart_and_resume_to_the_same_weights(
    data_dir, two_workers_adaptive, tmp_path
):
    model_dir = str(tmp_path / "run")
    chief_backups = os.path.join(model_dir, "backup")
    other_backups = os.path.join(model_dir, "workers", "worker-1", "backup")
    workers = _start_workers(
        model_dir, data_dir, str(tmp_path), *ADAPTIVE_FLAGS, worker_flags=CLOCKS
    )
    try:
        deadline = time.monotonic() + 240
        while latest_backup(chief_backups) < 2:
            assert all(w.poll() is None for w in workers), "a worker ended before the kill"
            assert time.monotonic() < deadline, "no backup of loop 2 appeared"
            time.sleep(0.02)
        workers[1].send_signal(signal.SIGKILL)
        workers[1].wait()
        # Worker 0 now waits in a collective for its lost peer (killed below), or fails.
        with contextlib.suppress(subprocess.TimeoutExpired):
            workers[0].wait(timeout=3)
    finally:
        _kill(workers)
    assert workers[1].returncode == -signal.SIGKILL
    assert not os.path.exists(os.path.join(model_dir, "results.json"))
    chief_at, other_at = latest_backup(chief_backups), latest_backup(other_backups)
    agreed = min(chief_at, other_at)  # a worker is at most one loop ahead of the other
    assert 2 <= chief_at < ADAPTIVE_LOOPS and abs(chief_at - other_at) <= 1, (chief_at, other_at)
    assert agreed < ADAPTIVE_CHANGE  # the restart trains across the change of the batch

    logs_before = _train_event_files(model_dir)
    _run_workers(model_dir, data_dir, str(tmp_path), *ADAPTIVE_FLAGS, worker_flags=CLOCKS)
    assert results(model_dir)["steps"] == ADAPTIVE_LOOPS
    assert [s["batch_size"] for s in results(model_dir)["batch_history"]] == [128, 256]
    assert results(model_dir)["batch_decisions"] == results(two_workers_adaptive)["batch_decisions"]
    assert backed_up_epochs(chief_backups) == backed_up_epochs(other_backups) == [11, 12]
    # The restart trained from the agreed backup on: its logs (one per fit: the adaptive
    # schedule's decision starts a new one) start at that loop's end.
    new_logs = _train_event_files(model_dir) - logs_before
    logged = sorted(step for log in new_logs for step in _learning_rate_steps(log))
    assert logged == list(range(agreed, ADAPTIVE_LOOPS))

    resumed = _workers_weights(model_dir, optimizer=True)
    uninterrupted = _weights(os.path.join(two_workers_adaptive, "model.keras"), optimizer=True)
    assert sorted(resumed) == sorted(uninterrupted)
    for key in resumed:  # bit for bit: each worker is deterministic, a sum of 2 commutes
        np.testing.assert_array_equal(resumed[key], uninterrupted[key], err_msg=key)
    print(f"resumed at loop {agreed} (chief {chief_at}, worker 1 {other_at})")


# 8 steps in 3 loops of 3, the last one of 2 (a run resumed at loop 3 starts at step 8).
SHORT_LAST_LOOP = (
    "--model=mlp",
    "--epochs=1",
    "--warmup_epochs=0.5",
    "--steps_per_loop=3",
    "--backup_every_seconds=0",
)


def _all_files(model_dir):
    """Every file in ``model_dir`` with its modification time."""
    return {
        os.path.join(folder, name): os.stat(os.path.join(folder, name)).st_mtime_ns
        for folder, _, names in os.walk(model_dir)
        for name in names
    }


def test_workers_stopped_after_the_last_backup_finish_and_a_complete_run_trains_nothing(
    data_dir, tmp_path
):
    model_dir = str(tmp_path / "run")
    models = [
        os.path.join(model_dir, "model.keras"),
        os.path.join(model_dir, "workers", "worker-1", "model.keras"),
    ]
    _run_workers(model_dir, data_dir, str(tmp_path), *SHORT_LAST_LOOP)
    uninterrupted = results(model_dir)
    assert uninterrupted["steps"] == 8 and uninterrupted["num_replicas"] == 2
    weights = _workers_weights(model_dir, optimizer=True)

    # Both killed after the backup of the last loop, before the models and results.
    for path in [*models, os.path.join(model_dir, "results.json")]:
        os.remove(path)
    _run_workers(model_dir, data_dir, str(tmp_path), *SHORT_LAST_LOOP)
    finished = _workers_weights(model_dir, optimizer=True)
    assert sorted(finished) == sorted(weights)
    for key in weights:
        np.testing.assert_array_equal(finished[key], weights[key], err_msg=key)
    again = results(model_dir)
    assert again.pop("wall_seconds") > 0 and uninterrupted.pop("wall_seconds") > 0
    assert again == uninterrupted

    files = _all_files(model_dir)
    _run_workers(model_dir, data_dir, str(tmp_path), *SHORT_LAST_LOOP)
    assert _all_files(model_dir) == files  # nothing trained, nothing written
    with open(os.path.join(str(tmp_path), "worker-0.log")) as f:
        said = [line for line in f if "is complete" in line]
    assert len(said) == 1 and os.path.join(model_dir, "results.json") in said[0]
