"""Lookahead against the NumPy reference of Zhang et al. (2019), step by step.

Backend-independent: also run with KERAS_BACKEND=jax (tests/backend_jax_test.py).
"""

import keras
import numpy as np
import pytest

from lbkeras.optimizers import Lookahead
from tests.optimizers import reference
from tests.optimizers.common import random_gradients
from tests.optimizers.stepping import run_against_reference

STEPS = 7


def _layer(seed=1):
    rng = np.random.default_rng(seed)
    return {"dense/kernel": rng.normal(size=(4, 3)), "dense/bias": np.zeros(3)}


def _reference(init, inner_step, k, alpha):
    """Fast weights follow ``inner_step(i, w, g, t)``; slow ones start at ``init``."""
    slow = [np.asarray(v, np.float64) for v in init.values()]

    def step(t, weights, grads):
        out = []
        for i, (w, g) in enumerate(zip(weights, grads)):
            fast, slow[i] = reference.lookahead_sync(
                inner_step(i, w, g, t), slow[i], t + 1, k=k, alpha=alpha
            )
            out.append(fast)
        return out

    return step


def _sgd(lr, momentum):
    momenta = {}

    def inner_step(i, w, g, t):
        w, momenta[i] = reference.sgd_step(w, g, momenta.get(i, 0.0), lr, momentum=momentum)
        return w

    return inner_step


@pytest.mark.parametrize("k, alpha", [(3, 0.5), (1, 0.3), (2, 1.0)])
def test_matches_reference_around_sgd_momentum(k, alpha):
    init = _layer()
    grads = random_gradients([(4, 3), (3,)], STEPS, zero_steps=(2,))
    optimizer = Lookahead(keras.optimizers.SGD(0.1, momentum=0.9), k, alpha)
    run_against_reference(optimizer, init, grads, _reference(init, _sgd(0.1, 0.9), k, alpha))


def test_matches_reference_around_adam():
    init = _layer()
    grads = random_gradients([(4, 3), (3,)], STEPS)
    moments = {}

    def adam(i, w, g, t):
        m, v = moments.get(i, (0.0, 0.0))
        w, m, v = reference.adam_step(w, g, m, v, t + 1, 0.05, beta_1=0.9, beta_2=0.99, eps=1e-7)
        moments[i] = m, v
        return w

    optimizer = Lookahead(keras.optimizers.Adam(0.05, 0.9, 0.99, epsilon=1e-7), 2, 0.8)
    run_against_reference(optimizer, init, grads, _reference(init, adam, 2, 0.8), rtol=1e-4)


def test_zero_weights_and_zero_gradients():
    init = {"a/kernel": np.zeros((3, 3)), "a/bias": np.zeros(3)}
    grads = random_gradients([(3, 3), (3,)], STEPS, zero_steps=(0, 3))
    optimizer = Lookahead(keras.optimizers.SGD(0.2, momentum=0.5), 3, 0.5)
    run_against_reference(optimizer, init, grads, _reference(init, _sgd(0.2, 0.5), 3, 0.5))


def test_slow_weights_start_at_the_weights_before_the_first_step_and_are_saved():
    init = _layer()
    optimizer = Lookahead(keras.optimizers.SGD(0.1, momentum=0.9), sync_period=3)
    variables = run_against_reference(
        optimizer,
        init,
        random_gradients([(4, 3), (3,)], 1),
        _reference(init, _sgd(0.1, 0.9), 3, 0.5),
    )
    for slow, value in zip(optimizer._slow_weights, init.values()):
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(slow), np.float32(value))
        assert any(slow is v for v in optimizer.variables)
    assert not np.allclose(keras.ops.convert_to_numpy(variables[0]), init["dense/kernel"])


def test_config_round_trip():
    optimizer = Lookahead(
        keras.optimizers.SGD(0.1, momentum=0.9), sync_period=5, slow_step_size=0.8
    )
    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(optimizer))
    assert type(restored) is Lookahead
    assert restored.get_config() == optimizer.get_config()


@pytest.mark.parametrize(
    "bad, error",
    [
        (dict(sync_period=0), ValueError),
        (dict(sync_period=2.5), TypeError),
        (dict(slow_step_size=0.0), ValueError),
        (dict(slow_step_size=1.5), ValueError),
    ],
)
def test_bad_arguments(bad, error):
    with pytest.raises(error):
        Lookahead(keras.optimizers.SGD(), **bad)
