"""LearningRateLogger writes the rate each step used; read back from event files."""

import keras
import numpy as np

from lbkeras.callbacks import LearningRateLogger, ThroughputLogger, learning_rate_at
from lbkeras.schedules import Warmup
from tests.event_files import read_scalars


def _model():
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    return model


def test_logged_learning_rate_matches_the_schedule(tmp_path):
    decay = keras.optimizers.schedules.PolynomialDecay(1.0, 12, end_learning_rate=0.0, power=2.0)
    schedule = Warmup(decay, warmup_steps=4, initial_learning_rate=0.1)
    model = _model()
    model.compile(optimizer=keras.optimizers.SGD(schedule), loss="mse")
    x = np.random.default_rng(0).normal(size=(64, 4)).astype("float32")
    y = np.zeros((64, 2), "float32")
    log_dir = str(tmp_path / "train")
    model.fit(
        x,
        y,
        batch_size=4,
        epochs=2,
        verbose=0,
        callbacks=[LearningRateLogger(log_dir), ThroughputLogger(log_dir, 4)],
    )

    logged = read_scalars(log_dir, "learning_rate")
    assert sorted(logged) == list(range(32))
    for step, value in logged.items():  # independent formula: Goyal warmup, LARS poly decay
        warmup = 0.1 + (1.0 - 0.1) * step / 4
        expected = warmup if step < 4 else (1 - min(step - 4, 12) / 12) ** 2
        np.testing.assert_allclose(value, expected, rtol=1e-6, atol=1e-7, err_msg=str(step))
    rates = read_scalars(log_dir, "examples_per_second")
    assert sorted(rates) == [16, 32] and all(r > 0 for r in rates.values())  # at epoch ends


def test_learning_rate_at_sees_through_loss_scaling():
    optimizer = keras.mixed_precision.LossScaleOptimizer(
        keras.optimizers.SGD(keras.optimizers.schedules.ExponentialDecay(1.0, 1, 0.5))
    )
    assert learning_rate_at(optimizer, 3) == 0.125
    assert learning_rate_at(keras.optimizers.SGD(0.3), 7) == np.float32(0.3)
