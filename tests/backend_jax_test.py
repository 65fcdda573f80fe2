"""The backend-independent tests must also pass with KERAS_BACKEND=jax.

lbkeras's optimizers and schedules are written with ``keras.ops`` only so that the
same code can be measured on accelerators that have JAX but no TensorFlow. The
backend is fixed when Keras is imported, so this runs those test files in a fresh
pytest process under JAX and requires every one of their tests to pass (none
skipped, none deselected).
"""

import glob
import os
import re
import subprocess
import sys
import tempfile

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Test files that use only keras, keras.ops and numpy (no tensorflow import).
BACKEND_INDEPENDENT = [
    "tests/scaling_test.py",
    "tests/optimizers/lars_test.py",
    "tests/optimizers/lamb_test.py",
    "tests/optimizers/save_load_test.py",
    "tests/optimizers/trust_ratio_test.py",
    "tests/optimizers/layerwise_test.py",
    "tests/optimizers/noise_scale_test.py",
    "tests/optimizers/gradient_noise_test.py",
    "tests/optimizers/lookahead_test.py",
    "tests/optimizers/agc_test.py",
    "tests/optimizers/wrapper_test.py",
    "tests/optimizers/gradient_accumulation_test.py",
    "tests/optimizers/adascale_test.py",
    "tests/monitoring/gradient_statistics_test.py",
    "tests/optimizers/conformance_reference_test.py",
    "tests/models/sam_test.py",
    "tests/layers/ghost_batch_norm_test.py",
    *sorted(
        os.path.relpath(path, ROOT)
        for path in glob.glob(os.path.join(ROOT, "tests", "schedules", "*_test.py"))
        if not path.endswith("graph_test.py")  # tf.function / XLA checks: TF only
    ),
]


def start_jax_run():
    """Starts the backend-independent files under JAX in a subprocess, with its output
    in temporary files; returns ``(process, stdout_file, stderr_file)``.

    tests/conftest.py starts it as soon as the session has collected this test, so that
    it runs on the second core beside the TensorFlow tests (which mostly use one).
    """
    env = dict(os.environ, KERAS_BACKEND="jax", JAX_PLATFORMS="cpu")
    # Files, not pipes: nobody reads a pipe while the run goes on, and a full one would
    # block it. They outlive this function, until the test reads them.
    out = tempfile.TemporaryFile("w+")  # noqa: SIM115
    err = tempfile.TemporaryFile("w+")  # noqa: SIM115
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *BACKEND_INDEPENDENT]
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=err, text=True)
    return process, out, err


JAX_RUN = pytest.StashKey[tuple]()


def test_backend_independent_tests_pass_under_jax(request):
    process, out, err = request.config.stash.get(JAX_RUN, None) or start_jax_run()
    returncode = process.wait(timeout=900)
    out.seek(0)
    err.seek(0)
    stdout, stderr = out.read(), err.read()
    summary = stdout.strip().splitlines()[-1] if stdout.strip() else ""
    assert returncode == 0, stdout[-5000:] + stderr[-3000:]
    assert re.search(r"\d+ passed", summary), summary
    assert "skipped" not in summary and "deselected" not in summary, summary


def test_backend_independent_files_do_not_import_tensorflow():
    for path in BACKEND_INDEPENDENT:
        with open(os.path.join(ROOT, path)) as f:
            assert "import tensorflow" not in f.read(), path


# A JAX-only machine (the GPU machines here have no TensorFlow): importing TensorFlow
# fails, and everything `import lbkeras` offers for training a model must still work.
_WITHOUT_TENSORFLOW = """
import importlib.abc, sys

class NoTensorFlow(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name.split(".")[0] == "tensorflow":
            raise ImportError(f"No module named {name!r} (blocked by the test)")

sys.meta_path.insert(0, NoTensorFlow())
import keras, numpy as np, lbkeras

keras.utils.set_random_seed(0)  # initialisation, shuffling: the same run every time
schedule = lbkeras.schedules.Warmup(0.05, warmup_steps=2)
sgd = keras.optimizers.SGD(schedule, momentum=0.9)
noisy = lbkeras.optimizers.GradientNoise(sgd, eta=1e-4, seed=0)
optimizer = lbkeras.optimizers.GradientAccumulation(
    lbkeras.optimizers.Lookahead(lbkeras.optimizers.TrustRatio(noisy, trust_coefficient=1.0)), 2)
inputs = keras.Input((4,))
hidden = lbkeras.layers.GhostBatchNormalization(virtual_batch_size=4)(keras.layers.Dense(8)(inputs))
model = lbkeras.models.SAMModel(inputs, keras.layers.Dense(1)(hidden), rho=0.05)
model.compile(optimizer=optimizer, loss="mse")
x = np.random.default_rng(0).normal(size=(64, 4)).astype("float32")
y = x @ np.ones((4, 1), "float32")
losses = model.fit(x, y, batch_size=8, epochs=4, verbose=0).history["loss"]
print("tensorflow imported:", "tensorflow" in sys.modules, "losses:", losses)
assert "tensorflow" not in sys.modules and losses[-1] < losses[0], losses
"""


def test_lbkeras_trains_where_tensorflow_cannot_be_imported():
    env = dict(os.environ, KERAS_BACKEND="jax", JAX_PLATFORMS="cpu")
    result = subprocess.run(
        [sys.executable, "-c", _WITHOUT_TENSORFLOW],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "tensorflow imported: False" in result.stdout, result.stdout
