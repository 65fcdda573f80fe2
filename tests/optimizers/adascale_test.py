"""AdaScale (Johnson et al. 2020) against its formula: the gain, tau and the schedule at tau.

Micro-batch gradients are fed to ``GradientAccumulation(AdaScale(...), n)`` by hand, so
every update's small gradients are known exactly.
"""

import keras
import numpy as np
import pytest

from lbkeras.optimizers import AdaScale, GradientAccumulation
from tests.optimizers.common import make_variable
from tests.optimizers.stepping import apply, values


def _gain_reference(micro, decay, state):
    """The gain of one update from its micro-batch gradients (NumPy, float64)."""
    n = len(micro)
    local = np.mean([np.sum(g**2) for g in micro])
    total = np.sum(np.mean(micro, axis=0) ** 2)
    estimates = np.array([(n * total - local) / (n - 1), (local - total) * n / (n - 1)])
    state["ema"] = decay * state.get("ema", 0) + (1 - decay) * estimates
    state["weight"] = decay * state.get("weight", 0) + (1 - decay)
    g2, variance = state["ema"] / state["weight"]
    return float(np.clip((variance + g2) / (variance / n + g2), 1, n)) if g2 > 0 else float(n)


@pytest.mark.parametrize("signal", [0.0, 0.5, 3.0])  # pure noise, mixed, little noise
def test_gain_tau_and_the_schedule_at_tau_follow_the_formulas(signal):
    n, decay, lr = 4, 0.8, keras.optimizers.schedules.PolynomialDecay(0.1, 40, 0.01)
    optimizer = GradientAccumulation(AdaScale(keras.optimizers.SGD(lr), ema_decay=decay), n)
    (variable,) = [make_variable(np.zeros(6), "layer/kernel")]
    rng = np.random.default_rng(0)
    mean_direction = signal * np.ones(6)
    expected, tau, state = np.zeros(6), 0.0, {}
    for _ in range(10):
        micro = [mean_direction + rng.normal(size=6) for _ in range(n)]
        for g in micro:
            apply(optimizer, [variable], [g.astype("float32")])
        gain = _gain_reference(micro, decay, state)
        rate = float(lr(tau))  # the schedule at tau, before tau advances
        expected = expected - gain * rate * np.mean(micro, axis=0)
        tau += gain
        np.testing.assert_allclose(values([variable])[0], expected, rtol=1e-4, atol=1e-6)
        inner = optimizer.inner_optimizer
        np.testing.assert_allclose(inner.gain, gain, rtol=1e-4)
        np.testing.assert_allclose(inner.tau, tau, rtol=1e-4)
    if signal == 0.0:
        assert inner.gain > 0.75 * n  # pure noise: close to the linear rule's S
    if signal == 3.0:
        assert inner.gain < 1.5  # little noise: a larger batch buys little


def test_noise_free_gradients_give_gain_one():
    optimizer = GradientAccumulation(AdaScale(keras.optimizers.SGD(0.1)), 4)
    (variable,) = [make_variable(np.zeros(3), "layer/kernel")]
    for _ in range(12):  # every micro-batch sees the same gradient
        apply(optimizer, [variable], [np.array([1.0, -2.0, 0.5], "float32")])
    assert optimizer.inner_optimizer.gain == pytest.approx(1.0)
    assert optimizer.inner_optimizer.tau == pytest.approx(3.0)


def test_scale_one_is_the_wrapped_optimizer():
    x = np.random.default_rng(1).normal(size=(256, 4)).astype("float32")
    y = x @ np.array([[1.0], [2.0], [-1.0], [0.5]], "float32")

    def trained(wrap):
        keras.utils.set_random_seed(0)
        model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
        schedule = keras.optimizers.schedules.PolynomialDecay(0.05, 20, 0.0, power=2.0)
        model.compile(wrap(keras.optimizers.SGD(schedule, momentum=0.9)), "mse")
        model.fit(x, y, batch_size=16, shuffle=False, verbose=0)
        return [v.numpy() for v in model.weights]

    plain = trained(lambda o: o)
    adapted = trained(lambda o: GradientAccumulation(AdaScale(o, scale=1.0), 2))
    halves = trained(lambda o: GradientAccumulation(o, 2))  # the same updates without AdaScale
    for a, b in zip(adapted, halves):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
    assert not np.allclose(plain[0], adapted[0])  # (accumulation itself changes the run)


def test_serialises():
    adascale = AdaScale(keras.optimizers.SGD(0.1), scale=8.0, ema_decay=0.95)
    restored = keras.optimizers.deserialize(keras.optimizers.serialize(adascale))
    assert (type(restored), restored.scale, restored.ema_decay) == (AdaScale, 8.0, 0.95)
