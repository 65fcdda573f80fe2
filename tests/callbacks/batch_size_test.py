"""The callbacks of a batch schedule: the hyper-parameters set at each change against a
NumPy Adam, and the batch and examples of every step read back from TensorBoard."""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from lbkeras.callbacks import BatchSizeLogger, HyperparameterTransfer
from lbkeras.schedules.batch_size import Stage, StepBatchSize
from tests.event_files import read_scalars

# 2 steps of 2 examples, then 3 of 4: 16 examples
STAGES = [Stage(0, 0, 2, 2), Stage(2, 4, 4, 3)]
VALUES = [{"beta_2": 0.999, "epsilon": 1e-7}, {"beta_2": 0.9, "epsilon": 1e-3}]
LR, BETA_1 = 0.1, 0.9


def _data():
    rng = np.random.default_rng(0)
    return rng.normal(size=(16, 2)).astype("float32"), rng.normal(size=(16, 1)).astype("float32")


def _batches(x, y):
    data = tf.data.Dataset.from_tensor_slices((x, y))
    return data.take(4).batch(2).concatenate(data.skip(4).batch(4))


def _numpy_adam(x, y, w):
    """Keras's Adam on a bias-free linear model and MSE, each step with its stage's beta_2
    and epsilon (and its bias correction with them)."""
    m, v = np.zeros_like(w), np.zeros_like(w)
    start = 0
    for step in range(5):
        stage = 0 if step < 2 else 1
        batch = STAGES[stage].batch_size
        xb, yb = x[start : start + batch].astype(np.float64), y[start : start + batch]
        start += batch
        g = 2 * xb.T @ (xb @ w - yb) / batch
        beta_2, epsilon = VALUES[stage]["beta_2"], VALUES[stage]["epsilon"]
        t = step + 1
        alpha = LR * np.sqrt(1 - beta_2**t) / (1 - BETA_1**t)
        m += (g - m) * (1 - BETA_1)
        v += (g * g - v) * (1 - beta_2)
        w = w - alpha * m / (np.sqrt(v) + epsilon)
    return w


def test_each_stage_trains_with_its_own_beta_2_and_epsilon():
    x, y = _data()
    keras.utils.set_random_seed(1)
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1, use_bias=False)])
    model.compile(keras.optimizers.Adam(LR, beta_1=BETA_1), "mse")
    w0 = model.get_weights()[0].astype(np.float64)
    model.fit(
        _batches(x, y), verbose=0, shuffle=False, callbacks=[HyperparameterTransfer(STAGES, VALUES)]
    )
    assert int(model.optimizer.iterations) == 5
    expected = _numpy_adam(x, y, w0)
    np.testing.assert_allclose(model.get_weights()[0], expected, rtol=1e-5, atol=1e-6)
    # Without the change (the first stage's values throughout) the result is elsewhere.
    unchanged = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1, use_bias=False)])
    unchanged.set_weights([w0.astype("float32")])
    unchanged.compile(keras.optimizers.Adam(LR, beta_1=BETA_1), "mse")
    unchanged.fit(_batches(x, y), verbose=0, shuffle=False)
    assert np.abs(unchanged.get_weights()[0] - expected).max() > 1e-3


def test_the_batch_and_examples_of_every_step_are_in_tensorboard(tmp_path):
    stages = StepBatchSize([(0, 2), (5, 4)]).stages(13)  # steps of 2 to 6, then 4 to 14
    x, y = _data()
    data = tf.data.Dataset.from_tensor_slices((x, y))
    batches = data.take(6).batch(2).concatenate(data.skip(6).take(8).batch(4))
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile("sgd", "mse")
    logger = BatchSizeLogger(str(tmp_path), stages)
    model.fit(
        batches.repeat(), steps_per_epoch=2, epochs=3, verbose=0, shuffle=False, callbacks=[logger]
    )
    assert read_scalars(str(tmp_path), "batch_size") == {0: 2, 1: 2, 2: 2, 3: 4, 4: 4, 5: 4}
    assert read_scalars(str(tmp_path), "examples_seen") == {0: 0, 1: 2, 2: 4, 3: 6, 4: 10, 5: 14}
