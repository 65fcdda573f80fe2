"""LARS against the NumPy reference of You et al. (2017), step by step.

Backend-independent: also run with KERAS_BACKEND=jax (tests/backend_jax_test.py).
"""

import keras
import numpy as np
import pytest

from lbkeras.optimizers import LARS
from tests.optimizers import reference
from tests.optimizers.common import random_gradients
from tests.optimizers.stepping import run_against_reference

STEPS = 6


def _layer(seed=1):
    rng = np.random.default_rng(seed)
    return {
        "block/dense/kernel": rng.normal(size=(4, 3)),
        "block/dense/bias": np.zeros(3),  # zero-initialised: trust ratio must be 1
        "block/norm/gamma": np.ones(3),
    }


def _run(optimizer, init, grads, lr_at, decays, adapts, **hparams):
    velocities = [np.zeros(np.shape(value)) for value in init.values()]

    def reference_step(step, weights, gradients):
        out = []
        for i, (w, g) in enumerate(zip(weights, gradients)):
            w, velocities[i] = reference.lars_step(
                w, g, velocities[i], lr_at(step), decay=decays[i], adapt=adapts[i], **hparams
            )
            out.append(w)
        return out

    return run_against_reference(optimizer, init, grads, reference_step)


HPARAMS = dict(momentum=0.9, eta=0.02, beta=1e-2, eps=1e-9)


@pytest.mark.parametrize("nesterov", [False, True])
@pytest.mark.parametrize("clip", [False, True])
def test_matches_reference(nesterov, clip):
    init = _layer()
    grads = random_gradients([v.shape for v in init.values()], STEPS, zero_steps=(3,))
    optimizer = LARS(
        0.5,
        momentum=0.9,
        trust_coefficient=0.02,
        weight_decay=1e-2,
        nesterov=nesterov,
        clip_trust_ratio=clip,
    )
    _run(
        optimizer,
        init,
        grads,
        lambda t: 0.5,
        [True] * 3,
        [True] * 3,
        nesterov=nesterov,
        clip=clip,
        **HPARAMS,
    )


def test_zero_initialised_bias_moves():
    init = _layer()
    grads = random_gradients([v.shape for v in init.values()], 1)
    optimizer = LARS(0.5, momentum=0.9, trust_coefficient=0.02, weight_decay=1e-2)
    variables = _run(optimizer, init, grads, lambda t: 0.5, [True] * 3, [True] * 3, **HPARAMS)
    bias = keras.ops.convert_to_numpy(variables[1])
    # Trust ratio 1 for a zero-norm weight: the bias takes a plain SGD step.
    np.testing.assert_allclose(bias, -0.5 * grads[0][1], rtol=1e-6)


def test_exclusions_by_path_regex():
    init = _layer()
    grads = random_gradients([v.shape for v in init.values()], STEPS)
    optimizer = LARS(
        0.5,
        momentum=0.9,
        trust_coefficient=0.02,
        weight_decay=1e-2,
        exclude_from_weight_decay=["norm/"],
        exclude_from_layer_adaptation=[r"dense/bias$", "gamma"],
    )
    _run(
        optimizer, init, grads, lambda t: 0.5, [True, True, False], [True, False, False], **HPARAMS
    )


def test_adaptation_exclusions_default_to_decay_exclusions():
    init = _layer()
    grads = random_gradients([v.shape for v in init.values()], STEPS)
    optimizer = LARS(
        0.5,
        momentum=0.9,
        trust_coefficient=0.02,
        weight_decay=1e-2,
        exclude_from_weight_decay="bias",
    )
    _run(optimizer, init, grads, lambda t: 0.5, [True, False, True], [True, False, True], **HPARAMS)


def test_exclude_1d_variables():
    init = _layer()
    grads = random_gradients([v.shape for v in init.values()], STEPS)
    optimizer = LARS(
        0.5, momentum=0.9, trust_coefficient=0.02, weight_decay=1e-2, exclude_1d_variables=True
    )
    _run(
        optimizer, init, grads, lambda t: 0.5, [True, False, False], [True, False, False], **HPARAMS
    )


def test_schedule_sets_the_rate_of_each_step():
    schedule = keras.optimizers.schedules.PolynomialDecay(
        2.0, STEPS, end_learning_rate=0.1, power=2.0
    )
    init = _layer()
    grads = random_gradients([v.shape for v in init.values()], STEPS)
    optimizer = LARS(schedule, momentum=0.9, trust_coefficient=0.02, weight_decay=1e-2)
    lr_at = lambda t: (2.0 - 0.1) * (1 - t / STEPS) ** 2 + 0.1  # noqa: E731
    _run(optimizer, init, grads, lr_at, [True] * 3, [True] * 3, **HPARAMS)


def test_zero_weight_decay_and_zero_weights():
    init = {"a/kernel": np.zeros((3, 3)), "a/bias": np.zeros(3)}
    grads = random_gradients([(3, 3), (3,)], STEPS, zero_steps=(0,))
    optimizer = LARS(0.3, momentum=0.5, trust_coefficient=0.001)
    _run(
        optimizer,
        init,
        grads,
        lambda t: 0.3,
        [True, True],
        [True, True],
        momentum=0.5,
        eta=0.001,
        beta=0.0,
        eps=1e-9,
    )


def test_config_round_trip():
    optimizer = LARS(
        keras.optimizers.schedules.PolynomialDecay(1.0, 10, power=2.0),
        momentum=0.8,
        trust_coefficient=0.01,
        weight_decay=1e-4,
        nesterov=True,
        clip_trust_ratio=True,
        exclude_from_weight_decay=["bias"],
        exclude_1d_variables=True,
    )
    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(optimizer))
    assert type(restored) is LARS
    assert restored.get_config() == optimizer.get_config()


@pytest.mark.parametrize(
    "bad",
    [
        dict(momentum=1.0),
        dict(trust_coefficient=0.0),
        dict(weight_decay=-1.0),
        dict(epsilon=-1.0),
        dict(exclude_from_weight_decay=["("]),
    ],
)
def test_bad_arguments(bad):
    with pytest.raises(ValueError):
        LARS(1.0, **bad)


@pytest.mark.parametrize("value", [float("inf"), float("-inf"), float("nan")])
@pytest.mark.parametrize(
    "argument", ["learning_rate", "momentum", "trust_coefficient", "weight_decay", "epsilon"]
)
def test_non_finite_hyperparameters_are_rejected(argument, value):
    with pytest.raises(ValueError, match=f"^{argument} must be a finite number"):
        LARS(**{argument: value})


def test_bools_are_not_hyperparameters():
    with pytest.raises(TypeError, match="^momentum must be a number, got True"):
        LARS(momentum=True)
