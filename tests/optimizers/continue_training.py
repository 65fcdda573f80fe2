"""Loads saved models in a fresh process and continues training them.

``continue_in_new_process(jobs)`` runs this file as a script, once for all ``jobs``
(each ``(MODEL.keras, DATA.npz, EPOCHS, OUT.npz)``): per job it loads the model (with
``import lbkeras`` only, as a user would), writes the optimizer's iteration count and
variables as loaded, trains ``EPOCHS`` more epochs at batch 64 on the data's ``x``
and ``y``, and writes the weights after them.
"""

from __future__ import annotations

import os
import subprocess
import sys

import keras
import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def main(model_path: str, data_path: str, epochs: int, out_path: str) -> None:
    model = keras.saving.load_model(model_path)
    loaded_iterations = int(keras.ops.convert_to_numpy(model.optimizer.iterations))
    loaded_state = [keras.ops.convert_to_numpy(v) for v in model.optimizer.variables]
    data = np.load(data_path)
    model.fit(data["x"], data["y"], batch_size=64, epochs=epochs, shuffle=False, verbose=0)
    np.savez(
        out_path,
        loaded_iterations=loaded_iterations,
        optimizer_class=type(model.optimizer).__name__,
        **{f"state_{i}": v for i, v in enumerate(loaded_state)},
        **{f"weight_{i}": keras.ops.convert_to_numpy(w) for i, w in enumerate(model.weights)},
    )


def continue_in_new_process(jobs) -> list:
    """Runs every ``(model_path, data_path, epochs, out_path)`` job in one new process;
    returns each job's output (an ``np.load`` of ``out_path``)."""
    arguments = [str(part) for job in jobs for part in job]
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    command = [sys.executable, os.path.abspath(__file__), *arguments]
    subprocess.run(command, check=True, env=env, cwd=ROOT, timeout=300)
    return [np.load(job[3]) for job in jobs]


if __name__ == "__main__":
    if keras.backend.backend() == "tensorflow":
        # As the test session (tests/conftest.py), so that the continued run can be
        # compared bit for bit with the uninterrupted one whatever the load.
        from lbkeras.determinism import run_ops_one_at_a_time

        run_ops_one_at_a_time()

    import lbkeras  # noqa: F401  (registers the serializable classes, SAMModel included)

    for i in range(1, len(sys.argv), 4):
        main(sys.argv[i], sys.argv[i + 1], int(sys.argv[i + 2]), sys.argv[i + 3])
