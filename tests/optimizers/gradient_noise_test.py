"""GradientNoise: the annealed noise of Neelakantan et al. (2015), reproducible from its seed.

The noise is read back from plain SGD at rate 1: ``w_new = w - (g + noise)``.
Backend-independent: also run with KERAS_BACKEND=jax (tests/backend_jax_test.py).
"""

import keras
import numpy as np
import pytest

from lbkeras.optimizers import GradientNoise
from tests.optimizers import reference
from tests.optimizers.common import make_variable, random_gradients
from tests.optimizers.stepping import apply, run_against_reference, values

STEPS = 5
SHAPES = [(4, 3), (3,)]


def _added_noise(optimizer, shapes, grads, init=None):
    """Per step, the noise ``optimizer`` (around SGD at rate 1) added to each gradient."""
    rng = np.random.default_rng(7)
    variables = [
        make_variable(rng.normal(size=s) if init is None else init[i], f"layer/v{i}")
        for i, s in enumerate(shapes)
    ]
    noises = []
    for step_grads in grads:
        before = values(variables)
        apply(optimizer, variables, step_grads)
        noises.append([b - a - g for b, a, g in zip(before, values(variables), step_grads)])
    return noises


def _noisy_sgd(**kwargs):
    return GradientNoise(keras.optimizers.SGD(1.0), **kwargs)


def test_noise_is_the_seeded_stream_scaled_by_the_schedule():
    grads = random_gradients(SHAPES, STEPS, zero_steps=(2,))  # zero gradients get noise too
    noises = _added_noise(_noisy_sgd(eta=0.3, gamma=0.55, seed=42), SHAPES, grads)
    stream = keras.random.SeedGenerator(42)  # one draw per variable per step, in order
    for t, step_noises in enumerate(noises):
        sigma = reference.gradient_noise_stddev(t, eta=0.3, gamma=0.55)
        for shape, noise in zip(SHAPES, step_noises):
            z = keras.ops.convert_to_numpy(keras.random.normal(shape, seed=stream))
            np.testing.assert_allclose(noise, sigma * z, atol=2e-6, err_msg=f"step {t}")


def test_noise_statistics_follow_the_schedule():
    shapes = [(100, 100), (100, 100)]
    grads = random_gradients(shapes, STEPS)
    noises = _added_noise(_noisy_sgd(eta=1.0, gamma=0.55, seed=0), shapes, grads)
    for t, (a, b) in enumerate(noises):
        sigma = reference.gradient_noise_stddev(t, eta=1.0, gamma=0.55)
        for noise in (a, b):
            assert abs(noise.std() / sigma - 1) < 0.03, (t, noise.std(), sigma)
            assert abs(noise.mean()) < 4 * sigma / 100
        assert abs(np.corrcoef(a.ravel(), b.ravel())[0, 1]) < 0.05  # independent per variable
    first, second = noises[0][0].ravel(), noises[1][0].ravel()
    assert abs(np.corrcoef(first, second)[0, 1]) < 0.05  # and per step


def test_same_seed_same_noise_other_seed_other_noise():
    grads = random_gradients(SHAPES, 2)
    a = _added_noise(_noisy_sgd(seed=3), SHAPES, grads)
    b = _added_noise(_noisy_sgd(seed=3), SHAPES, grads)
    c = _added_noise(_noisy_sgd(seed=4), SHAPES, grads)
    for x, y, z in zip(a, b, c):
        for u, v, w in zip(x, y, z):
            np.testing.assert_array_equal(u, v)
            assert not np.allclose(u, w)


def test_step_counter_is_the_wrapped_optimizers():
    sgd = keras.optimizers.SGD(1.0)
    sgd.iterations.assign(99)  # as if 99 steps had been taken
    noises = _added_noise(
        GradientNoise(sgd, eta=1.0, seed=0), [(200, 100)], [[np.zeros((200, 100))]]
    )
    sigma = reference.gradient_noise_stddev(99, eta=1.0, gamma=0.55)
    assert abs(noises[0][0].std() / sigma - 1) < 0.03
    assert int(keras.ops.convert_to_numpy(sgd.iterations)) == 100


def test_zero_eta_is_the_wrapped_optimizer():
    rng = np.random.default_rng(1)
    init = {"a/kernel": rng.normal(size=(4, 3)), "a/bias": np.zeros(3)}
    optimizer = GradientNoise(keras.optimizers.SGD(0.5, momentum=0.9), eta=0.0, seed=1)
    momenta = {}

    def step(t, weights, grads):
        out = []
        for i, (w, g) in enumerate(zip(weights, grads)):
            w, momenta[i] = reference.sgd_step(w, g, momenta.get(i, 0.0), 0.5, momentum=0.9)
            out.append(w)
        return out

    grads = random_gradients([(4, 3), (3,)], STEPS, zero_steps=(0,))
    run_against_reference(optimizer, init, grads, step)


def test_zero_weights_get_the_same_noise():
    grads = random_gradients(SHAPES, 2)
    zeros = [np.zeros(s) for s in SHAPES]
    a = _added_noise(_noisy_sgd(seed=5), SHAPES, grads, init=zeros)
    b = _added_noise(_noisy_sgd(seed=5), SHAPES, grads)
    for x, y in zip(a, b):
        for u, v in zip(x, y):
            np.testing.assert_allclose(u, v, atol=2e-6)


def test_config_round_trip():
    optimizer = GradientNoise(keras.optimizers.Adam(1e-3), eta=0.3, gamma=0.5, seed=7)
    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(optimizer))
    assert type(restored) is GradientNoise
    assert type(restored.inner_optimizer) is keras.optimizers.Adam
    assert restored.get_config() == optimizer.get_config()


@pytest.mark.parametrize("bad", [dict(eta=-0.1), dict(gamma=-1.0), dict(seed="x"), dict(seed=1.5)])
def test_bad_arguments(bad):
    with pytest.raises((ValueError, TypeError)):
        GradientNoise(keras.optimizers.SGD(), **bad)
