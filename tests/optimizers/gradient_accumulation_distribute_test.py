"""GradientAccumulation under MirroredStrategy over 2 logical CPUs (tests/conftest.py).

``model.fit`` must end where the one-device run ends; each replica accumulates its own
gradients, so a model saved between updates stores their sum, and reloads on one device
or under the strategy and continues as the uninterrupted run. Graph mode and XLA for
more optimizers: conformance_test.py.
"""

import keras
import numpy as np
import pytest

from lbkeras.optimizers import GradientAccumulation, PiecewiseConstantSteps

BATCH = 32  # global: 16 per replica


def _data():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(8 * BATCH, 4)).astype(np.float32)
    y = (x @ np.array([[1.0], [-2.0], [3.0], [0.5]]) + 1.0).astype(np.float32)
    return x, y


def _compiled(optimizer) -> keras.Model:
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1, name="dense")])
    model.compile(optimizer=optimizer, loss="mse")
    return model


def _optimizer():
    # Updates of 2, 2, then 3 micro-batches: an epoch of 8 ends with one micro-batch pending.
    steps = PiecewiseConstantSteps(boundaries=[2], values=[2, 3])
    return GradientAccumulation(keras.optimizers.AdamW(0.05, weight_decay=0.1), steps)


def _fit(model):
    x, y = _data()
    model.fit(x, y, batch_size=BATCH, epochs=1, shuffle=False, verbose=0)
    return [keras.ops.convert_to_numpy(w) for w in model.weights]


def _assert_close(ours, expected):
    for a, b in zip(ours, expected):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def _per_replica(variable):
    return [component.numpy() for component in variable.value.values]


def test_fit_save_and_reload_mid_accumulation(mirrored_strategy, tmp_path):
    single = _compiled(_optimizer())
    single_weights = _fit(single)
    with mirrored_strategy.scope():
        mirrored = _compiled(_optimizer())
    _assert_close(_fit(mirrored), single_weights)
    assert int(mirrored.optimizer.iterations.numpy()) == 3

    # One micro-batch pending: each replica holds its half-batch's gradient; the sum is
    # the one-device accumulator, and that is what model.save stores.
    for ours, expected in zip(mirrored.optimizer._accumulators, single.optimizer._accumulators):
        halves = _per_replica(ours)
        assert not np.allclose(halves[0], halves[1])
        np.testing.assert_allclose(halves[0] + halves[1], expected.numpy(), rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(ours.numpy(), expected.numpy(), rtol=1e-5, atol=1e-6)
    saved = [a.numpy() for a in mirrored.optimizer._accumulators]
    path = str(tmp_path / "mirrored.keras")
    mirrored.save(path)

    uninterrupted = _fit(single)
    on_one_device = keras.saving.load_model(path)
    assert int(on_one_device.optimizer.micro_steps.numpy()) == 8
    _assert_close(_fit(on_one_device), uninterrupted)
    with mirrored_strategy.scope():
        reloaded = keras.saving.load_model(path)
    for ours, total in zip(reloaded.optimizer._accumulators, saved):
        for half in _per_replica(ours):  # each replica gets an equal share of the sum
            np.testing.assert_allclose(half, total / 2, rtol=1e-6)
    _assert_close(_fit(reloaded), uninterrupted)


def test_inside_a_loss_scale_optimizer(mirrored_strategy):
    """Mixed precision's LossScaleOptimizer applies its inner optimizer from a
    cross-replica cond; the accumulation's own branch (a merge_call) nests inside it."""
    single = _fit(_compiled(keras.optimizers.LossScaleOptimizer(_optimizer())))
    with mirrored_strategy.scope():
        mirrored = _compiled(keras.optimizers.LossScaleOptimizer(_optimizer()))
    _assert_close(_fit(mirrored), single)
    assert int(mirrored.optimizer.inner_optimizer.iterations.numpy()) == 3


def test_keras_own_accumulation_fails_under_mirrored_strategy(mirrored_strategy):
    """Documents Keras's own accumulation (see GradientAccumulation's docstring): its apply puts an
    ``ops.cond`` around a cross-replica call. If this fails, Keras fixed it."""
    with mirrored_strategy.scope():
        model = _compiled(keras.optimizers.SGD(0.1, gradient_accumulation_steps=2))
    x, y = _data()
    with pytest.raises(RuntimeError, match="merge_call"):
        model.fit(x[:BATCH], y[:BATCH], batch_size=BATCH, epochs=1, verbose=0)
