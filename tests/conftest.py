"""Test-session setup: two logical CPU devices for tf.distribute tests, one inter-op thread.

Logical devices and the inter-op threads (``lbkeras.determinism``) must be configured
before TensorFlow initialises its runtime, so it happens here, once, before any test
module runs. Under KERAS_BACKEND=jax nothing imports TensorFlow.
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402

_JAX_TEST = "backend_jax_test.py::test_backend_independent_tests_pass_under_jax"
_started = []  # the JAX reruns started here: (process, stdout file, stderr file)


def pytest_collection_modifyitems(items):
    """The test that waits for the JAX rerun goes last, so the rerun overlaps the others."""
    items.sort(key=lambda item: item.nodeid.endswith(_JAX_TEST))


def pytest_collection_finish(session):
    """Starts the JAX rerun of tests/backend_jax_test.py early, beside the other tests."""
    for item in session.items:
        if item.nodeid.endswith(_JAX_TEST):
            _started.append(item.module.start_jax_run())
            session.config.stash[item.module.JAX_RUN] = _started[-1]


def pytest_sessionfinish(session):
    """Stops the JAX rerun if the session ends before its test waited for it."""
    for process, *_ in _started:
        if process.poll() is None:
            process.kill()


NUM_LOGICAL_CPUS = 2

if keras.backend.backend() == "tensorflow":
    import tensorflow as tf

    # Before TensorFlow's runtime starts: the trainer's default (deterministic=True) needs it.
    from lbkeras.determinism import run_ops_one_at_a_time

    run_ops_one_at_a_time()
    _cpus = tf.config.list_physical_devices("CPU")
    tf.config.set_logical_device_configuration(
        _cpus[0], [tf.config.LogicalDeviceConfiguration()] * NUM_LOGICAL_CPUS
    )

    import pytest

    @pytest.fixture(scope="session")
    def mirrored_strategy():
        """One MirroredStrategy over the two logical CPUs, shared by the whole session.

        Several MirroredStrategy objects in one process hand out clashing collective
        instance keys to synchronised batch norm ("Shape mismatch in the collective
        instance"), so tests share this one.
        """
        devices = [d.name for d in tf.config.list_logical_devices("CPU")]
        assert len(devices) == NUM_LOGICAL_CPUS, devices
        return tf.distribute.MirroredStrategy(devices)
