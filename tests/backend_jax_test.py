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

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Test files that use only keras, keras.ops and numpy (no tensorflow import).
BACKEND_INDEPENDENT = [
    "tests/scaling_test.py",
    "tests/optimizers/lars_test.py",
    "tests/optimizers/lamb_test.py",
    "tests/optimizers/save_load_test.py",
    "tests/optimizers/trust_ratio_test.py",
    "tests/optimizers/gradient_noise_test.py",
    "tests/optimizers/lookahead_test.py",
    "tests/optimizers/agc_test.py",
    "tests/optimizers/wrapper_test.py",
    "tests/optimizers/gradient_accumulation_test.py",
    "tests/training/sam_test.py",
    "tests/layers/ghost_batch_norm_test.py",
    *sorted(
        os.path.relpath(path, ROOT)
        for path in glob.glob(os.path.join(ROOT, "tests", "schedules", "*_test.py"))
        if not path.endswith("graph_test.py")  # tf.function / XLA checks: TF only
    ),
]


def test_backend_independent_tests_pass_under_jax():
    env = dict(os.environ, KERAS_BACKEND="jax", JAX_PLATFORMS="cpu")
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *BACKEND_INDEPENDENT],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    summary = result.stdout.strip().splitlines()[-1] if result.stdout.strip() else ""
    assert result.returncode == 0, result.stdout[-5000:] + result.stderr[-3000:]
    assert re.search(r"\d+ passed", summary), summary
    assert "skipped" not in summary and "deselected" not in summary, summary


def test_backend_independent_files_do_not_import_tensorflow():
    for path in BACKEND_INDEPENDENT:
        with open(os.path.join(ROOT, path)) as f:
            assert "import tensorflow" not in f.read(), path
