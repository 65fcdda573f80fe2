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
