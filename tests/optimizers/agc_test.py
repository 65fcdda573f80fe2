"""AdaptiveGradientClipping against the NumPy reference of Brock et al. (2021), step by step.

Backend-independent: also run with KERAS_BACKEND=jax (tests/backend_jax_test.py).
"""

import keras
import numpy as np
import pytest

from lbkeras.optimizers import AdaptiveGradientClipping
from tests.optimizers import reference
from tests.optimizers.common import random_gradients
from tests.optimizers.stepping import run_against_reference

STEPS = 5
CLIPPING = 0.4


def _model(seed=1):
    rng = np.random.default_rng(seed)
    kernel = rng.normal(size=(5, 3))
    kernel[:, 1] = 0.0  # a zero unit: its norm is floored at eps
    return {
        "conv/kernel": rng.normal(size=(3, 3, 2, 4)),
        "dense/kernel": kernel,
        "dense/bias": np.zeros(3),
        "norm/gamma": np.ones(3),
        "logits/kernel": rng.normal(size=(3, 2)),
    }


def _grads(init, seed=0, zero_steps=(2,)):
    # Scaled so that some units are clipped and others are not.
    grads = random_gradients([v.shape for v in init.values()], STEPS, seed, zero_steps)
    return [[0.4 * g for g in step] for step in grads]


def _reference(clips, lr=0.1, momentum=0.9, eps=1e-3):
    momenta = {}

    def step(t, weights, grads):
        out = []
        for i, (w, g) in enumerate(zip(weights, grads)):
            g = reference.agc(g, w, clipping=CLIPPING, eps=eps, clip=clips[i])
            w, momenta[i] = reference.sgd_step(w, g, momenta.get(i, 0.0), lr, momentum=momentum)
            out.append(w)
        return out

    return step


def test_matches_reference():
    init = _model()
    grads = _grads(init)
    clipped = [
        not np.allclose(reference.agc(g, w, clipping=CLIPPING, eps=1e-3), g)
        for g, w in zip(grads[0], init.values())
    ]
    assert any(clipped) and not all(clipped), "the test should clip some units, not all"
    optimizer = AdaptiveGradientClipping(keras.optimizers.SGD(0.1, momentum=0.9), CLIPPING)
    run_against_reference(optimizer, init, grads, _reference([True] * 5))


def test_unit_norms_are_over_all_axes_but_the_last():
    w = np.ones((2, 3))
    g = np.array([[3.0, 0.0, 0.3], [4.0, 0.0, 0.4]])  # unit norms 5, 0, 0.5; weights sqrt(2)
    clipped = reference.agc(g, w, clipping=1.0, eps=1e-3)
    np.testing.assert_allclose(np.linalg.norm(clipped, axis=0), [np.sqrt(2), 0.0, 0.5])
    init = {"d/kernel": w}
    optimizer = AdaptiveGradientClipping(keras.optimizers.SGD(1.0), clipping=1.0)
    run_against_reference(optimizer, init, [[g]], lambda t, ws, gs: [ws[0] - clipped])


def test_exclude_by_path_regex():
    init = _model()
    optimizer = AdaptiveGradientClipping(
        keras.optimizers.SGD(0.1, momentum=0.9), CLIPPING, exclude=["logits/", r"norm/gamma$"]
    )
    run_against_reference(
        optimizer, init, _grads(init), _reference([True, True, True, False, False])
    )


def test_zero_weights_and_zero_gradients():
    init = {"a/kernel": np.zeros((3, 3)), "a/bias": np.zeros(3)}
    grads = random_gradients([(3, 3), (3,)], STEPS, zero_steps=(0, 3))
    optimizer = AdaptiveGradientClipping(keras.optimizers.SGD(0.1, momentum=0.9), CLIPPING, 0.01)
    run_against_reference(optimizer, init, grads, _reference([True, True], eps=0.01))


def test_config_round_trip():
    optimizer = AdaptiveGradientClipping(
        keras.optimizers.SGD(0.1, momentum=0.9, nesterov=True),
        clipping=0.16,
        eps=1e-4,
        exclude=["logits/"],
    )
    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(optimizer))
    assert type(restored) is AdaptiveGradientClipping
    assert restored.get_config() == optimizer.get_config()


@pytest.mark.parametrize("bad", [dict(clipping=0.0), dict(eps=0.0), dict(exclude=["("])])
def test_bad_arguments(bad):
    with pytest.raises(ValueError):
        AdaptiveGradientClipping(keras.optimizers.SGD(), **bad)
