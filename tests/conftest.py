"""Test-session setup: two logical CPU devices for tf.distribute tests.

Logical devices must be configured before TensorFlow initialises its runtime, so
it happens here, once, before any test module runs. Under KERAS_BACKEND=jax
nothing imports TensorFlow.
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402

NUM_LOGICAL_CPUS = 2

if keras.backend.backend() == "tensorflow":
    import tensorflow as tf

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
