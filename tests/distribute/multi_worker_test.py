"""Multi-worker training through the CLI: 2 real worker processes on 127.0.0.1.

Keras 3 model.fit under MultiWorkerMirroredStrategy needs lbkeras's shim
(lbkeras/distribute/keras_compat.py, keras-team/keras#20585). Both workers must
finish with identical weights, equal to a single-process run with the same global
batch and data order (MNIST-1D shuffles the whole set alike on every worker before
sharding, so the examples of each global batch do not depend on the worker count).
"""

import json
import os
import subprocess

import keras
import numpy as np

import lbkeras  # noqa: F401  (registers LARS & co. for load_model)
from tests.tools.cli import environment, free_ports, train, train_command

# mlp: no batch norm, whose per-worker statistics would differ from one process's.
FLAGS = ("--model=mlp", "--epochs=3", "--seed=5")


def _weights(path):
    model = keras.saving.load_model(path)
    return [w.numpy() for w in model.weights]


def test_two_workers_match_each_other_and_one_process(tmp_path):
    data_dir = str(tmp_path / "data")
    single_dir = str(tmp_path / "single")
    done = train(single_dir, data_dir, *FLAGS)  # also generates the data once
    assert done.returncode == 0, done.stderr[-3000:]

    model_dir = str(tmp_path / "multi")
    cluster = {"worker": [f"127.0.0.1:{port}" for port in free_ports(2)]}
    workers = []
    for index in range(2):
        tf_config = json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}})
        env = environment()
        env["TF_CONFIG"] = tf_config
        workers.append(
            subprocess.Popen(
                train_command(model_dir, data_dir, *FLAGS, "--strategy=multi_worker"),
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
        )
    outputs = [worker.communicate(timeout=600) for worker in workers]
    for worker, (_, stderr) in zip(workers, outputs):
        assert worker.returncode == 0, stderr[-3000:]

    with open(os.path.join(model_dir, "results.json")) as f:
        results = json.load(f)
    assert results["num_replicas"] == 2 and results["steps"] == 24
    chief = _weights(os.path.join(model_dir, "model.keras"))
    other = _weights(os.path.join(model_dir, "workers", "worker-1", "model.keras"))
    single = _weights(os.path.join(single_dir, "model.keras"))
    for a, b, c in zip(chief, other, single):
        np.testing.assert_array_equal(a, b)
        np.testing.assert_allclose(a, c, rtol=1e-4, atol=1e-5)
