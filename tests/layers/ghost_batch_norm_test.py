"""GhostBatchNormalization against a NumPy reference (Hoffer et al. 2017).

Backend-independent: also run with KERAS_BACKEND=jax (tests/backend_jax_test.py).
"""

import keras
import numpy as np
import pytest

from lbkeras.layers import GhostBatchNormalization


def _reference(x, virtual, gamma, beta, eps):
    ghosts = x.reshape(-1, virtual, *x.shape[1:]).astype(np.float64)
    axes = tuple(range(1, ghosts.ndim - 1))
    mean = ghosts.mean(axis=axes, keepdims=True)
    var = ghosts.var(axis=axes, keepdims=True)
    y = (ghosts - mean) / np.sqrt(var + eps) * gamma + beta
    channels = x.shape[-1]
    return (
        y.reshape(x.shape),
        mean.reshape(-1, channels).mean(0),
        var.reshape(-1, channels).mean(0),
    )


@pytest.mark.parametrize("shape", [(32, 5), (16, 4, 4, 3)])
def test_ghost_statistics_and_moving_averages(shape):
    rng = np.random.default_rng(0)
    x = (rng.normal(size=shape) * np.linspace(1, 4, shape[-1]) + 2.0).astype(np.float32)
    x[: shape[0] // 2] += 5.0  # ghost batches with different statistics
    layer = GhostBatchNormalization(virtual_batch_size=8, momentum=0.9, epsilon=1e-3)
    layer.build(shape)
    gamma = rng.normal(size=shape[-1]).astype(np.float32)
    beta = rng.normal(size=shape[-1]).astype(np.float32)
    layer.gamma.assign(gamma)
    layer.beta.assign(beta)
    y = keras.ops.convert_to_numpy(layer(x, training=True))
    expected, mean, var = _reference(x, 8, gamma, beta, 1e-3)
    np.testing.assert_allclose(y, expected, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(layer.moving_mean), 0.1 * mean, rtol=1e-5, atol=1e-6
    )
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(layer.moving_variance), 0.9 + 0.1 * var, rtol=1e-5
    )
    # Inference uses the moving statistics.
    moving_mean = 0.1 * mean
    moving_var = 0.9 + 0.1 * var
    y_inf = keras.ops.convert_to_numpy(layer(x, training=False))
    np.testing.assert_allclose(
        y_inf, (x - moving_mean) / np.sqrt(moving_var + 1e-3) * gamma + beta, rtol=1e-4, atol=1e-4
    )


def test_equals_batch_normalization_when_the_virtual_batch_is_the_batch():
    x = np.random.default_rng(1).normal(size=(16, 6)).astype(np.float32)
    ghost = GhostBatchNormalization(virtual_batch_size=16)
    plain = keras.layers.BatchNormalization()
    for _ in range(3):
        np.testing.assert_allclose(
            keras.ops.convert_to_numpy(ghost(x, training=True)),
            keras.ops.convert_to_numpy(plain(x, training=True)),
            rtol=1e-6,
            atol=1e-6,
        )
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(ghost.moving_variance),
        keras.ops.convert_to_numpy(plain.moving_variance),
        rtol=1e-6,
    )


def test_serialises_and_rejects_bad_arguments():
    layer = GhostBatchNormalization(virtual_batch_size=32, momentum=0.8)
    restored = keras.layers.deserialize(keras.layers.serialize(layer))
    assert type(restored) is GhostBatchNormalization
    assert restored.virtual_batch_size == 32 and restored.momentum == 0.8
    for bad, error in ((0, ValueError), (-4, ValueError), (2.5, TypeError), (True, TypeError)):
        with pytest.raises(error, match="^virtual_batch_size must be an integer"):
            GhostBatchNormalization(virtual_batch_size=bad)
    with pytest.raises(ValueError, match="channels last"):
        GhostBatchNormalization(axis=1)
    with pytest.raises(ValueError, match="not a multiple"):
        GhostBatchNormalization(virtual_batch_size=5)(np.zeros((12, 3), np.float32), training=True)


def test_use_ghost_batch_norm_converts_a_model():
    from lbkeras.layers import use_ghost_batch_norm

    keras.utils.set_random_seed(0)
    inputs = keras.Input((6,))
    h = keras.layers.Dense(8, use_bias=False)(inputs)
    h = keras.layers.BatchNormalization(momentum=0.9)(h)
    model = keras.Model(inputs, keras.layers.Dense(3)(keras.layers.ReLU()(h)))
    ghost = use_ghost_batch_norm(model, virtual_batch_size=4)
    kinds = [type(layer).__name__ for layer in ghost.layers]
    assert "GhostBatchNormalization" in kinds and "BatchNormalization" not in kinds
    bn = next(layer for layer in ghost.layers if isinstance(layer, GhostBatchNormalization))
    assert bn.virtual_batch_size == 4 and bn.momentum == 0.9
    x = np.random.default_rng(0).normal(size=(8, 6)).astype(np.float32)
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(ghost(x, training=False)),
        keras.ops.convert_to_numpy(model(x, training=False)),
        rtol=1e-6,
    )
    with_ghost = keras.ops.convert_to_numpy(ghost(x, training=True))
    plain = keras.ops.convert_to_numpy(model(x, training=True))
    assert not np.allclose(with_ghost, plain)  # statistics over 2 ghost batches of 4
