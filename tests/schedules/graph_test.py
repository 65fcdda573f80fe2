"""TensorFlow-only: every schedule gives its eager values in tf.function and under XLA.

The other test files are backend-independent (they also run with KERAS_BACKEND=jax);
this one needs TensorFlow and is skipped on other backends.
"""

from __future__ import annotations

import keras
import numpy as np
import pytest

from lbkeras.schedules import (
    Constant,
    CosineDecayWithHold,
    InverseSqrtDecay,
    StepDecay,
    Warmup,
)
from tests.schedules.common import evaluate

pytestmark = pytest.mark.skipif(
    keras.backend.backend() != "tensorflow", reason="tf.function and XLA need the TF backend"
)
tf = pytest.importorskip("tensorflow")

PolynomialDecay = keras.optimizers.schedules.PolynomialDecay
PiecewiseConstantDecay = keras.optimizers.schedules.PiecewiseConstantDecay

SCHEDULES = {
    "constant": Constant(0.3),
    "step": StepDecay(1.0, [3, 7, 12]),
    "cosine": CosineDecayWithHold(1.0, 8, end_learning_rate=0.1, hold_steps=2),
    "rsqrt": InverseSqrtDecay(1.0, timescale=4),
    "warmup_float": Warmup(2.0, 4, initial_learning_rate=0.1),
    "warmup_lars": Warmup(PolynomialDecay(2.0, 8, 0.0, power=2.0), 4, kind="polynomial", power=2.0),
    "warmup_goyal": Warmup(StepDecay(3.2, [6, 10, 13]), 4, 0.1, shift=False),
    "warmup_piecewise": Warmup(PiecewiseConstantDecay([6, 9], [1.0, 0.5, 0.1]), 3, kind="constant"),
    "no_warmup": Warmup(CosineDecayWithHold(1.0, 5), 0),
}
STEPS = range(16)


@pytest.mark.parametrize("jit_compile", [False, True], ids=["graph", "xla"])
@pytest.mark.parametrize("step_dtype", ["int64", "int32"])
@pytest.mark.parametrize("name", sorted(SCHEDULES))
def test_tf_function_matches_eager(name, step_dtype, jit_compile):
    schedule = SCHEDULES[name]
    step = tf.Variable(0, dtype=step_dtype, trainable=False)

    @tf.function(jit_compile=jit_compile)
    def learning_rate():
        return schedule(step)

    values = []
    for s in STEPS:
        step.assign(s)
        lr = learning_rate()
        assert lr.dtype == tf.float32
        values.append(float(lr))
    np.testing.assert_allclose(values, evaluate(schedule, STEPS, step_dtype), rtol=1e-6, atol=1e-7)


def test_optimizer_iterations_under_xla():
    """Keras optimizers call the schedule on their int64 ``iterations`` variable."""
    schedule = SCHEDULES["warmup_lars"]
    optimizer = keras.optimizers.SGD(schedule)
    optimizer.build([keras.Variable(np.zeros(2, "float32"))])

    @tf.function(jit_compile=True)
    def learning_rate():
        return optimizer.learning_rate

    for s in (0, 2, 4, 9):
        optimizer.iterations.assign(s)
        np.testing.assert_allclose(float(learning_rate()), evaluate(schedule, [s])[0], rtol=1e-6)
