"""LearningRateRamp, the range test's schedule, against its closed formula."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from lbkeras.tuning.lr_ramp import LearningRateRamp


def reference_ramp(step, min_lr, max_lr, num_steps, mode, start):
    """The ramp's rate at ``step``, written out with NumPy (also used by lr_range_test)."""
    i = np.clip(np.asarray(step, dtype=np.float64) - start, 0, num_steps - 1)
    if mode == "linear":
        return min_lr + (max_lr - min_lr) * i / (num_steps - 1)
    return min_lr * (max_lr / min_lr) ** (i / (num_steps - 1))


@pytest.mark.parametrize("mode", ["exponential", "linear"])
def test_ramp_matches_the_closed_formula_from_its_start_step(mode):
    ramp = LearningRateRamp(1e-7, 10.0, num_steps=100, mode=mode, start_step=37)
    steps = [0, 36, 37, 38, 60, 100, 136, 137, 500]  # before, during and after the ramp
    values = [float(ramp(tf.constant(step, dtype=tf.int64))) for step in steps]
    expected = reference_ramp(steps, 1e-7, 10.0, 100, mode, 37)
    np.testing.assert_allclose(values, expected, rtol=2e-6)
    assert values[2] == pytest.approx(1e-7) and values[-1] == pytest.approx(10.0)


def test_ramp_serialises_and_runs_in_a_graph():
    ramp = LearningRateRamp(1e-4, 3.0, num_steps=20, mode="linear", start_step=5)
    again = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(ramp))
    assert type(again) is LearningRateRamp and again.get_config() == ramp.get_config()
    graph = tf.function(lambda step: again(step))
    np.testing.assert_allclose(
        float(graph(tf.constant(12))), reference_ramp(12, 1e-4, 3.0, 20, "linear", 5), rtol=1e-6
    )


def test_ramp_rejects_bad_arguments():
    with pytest.raises(ValueError, match="mode='cubic'; choose one of: exponential, linear"):
        LearningRateRamp(1e-4, 1.0, 10, mode="cubic")
    with pytest.raises(ValueError, match="num_steps must be >= 2"):
        LearningRateRamp(1e-4, 1.0, 1)
