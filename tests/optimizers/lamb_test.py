"""LAMB against the NumPy reference of You et al. (2020), step by step.

Backend-independent: also run with KERAS_BACKEND=jax (tests/backend_jax_test.py).
"""

import keras
import numpy as np
import pytest

from lbkeras.optimizers import LAMB
from tests.optimizers import reference
from tests.optimizers.common import make_variable, random_gradients
from tests.optimizers.stepping import run_against_reference

STEPS = 6


def _layer(seed=2):
    rng = np.random.default_rng(seed)
    return {
        "enc/attention/kernel": rng.normal(size=(5, 4)),
        "enc/attention/bias": np.zeros(4),
        "enc/layer_norm/gamma": np.ones(4),
    }


def _run(optimizer, init, grads, lr_at, decays, adapts, **hparams):
    moments = [[np.zeros(np.shape(value))] * 2 for value in init.values()]

    def reference_step(step, weights, gradients):
        out = []
        for i, (w, g) in enumerate(zip(weights, gradients)):
            m, v = moments[i]
            w, m, v = reference.lamb_step(
                w, g, m, v, step + 1, lr_at(step), decay=decays[i], adapt=adapts[i], **hparams
            )
            moments[i] = [m, v]
            out.append(w)
        return out

    return run_against_reference(optimizer, init, grads, reference_step, rtol=5e-5)


HPARAMS = dict(beta_1=0.9, beta_2=0.99, eps=1e-6, lam=0.01)


@pytest.mark.parametrize("bias_correction", [True, False])
def test_matches_reference(bias_correction):
    init = _layer()
    grads = random_gradients([v.shape for v in init.values()], STEPS, zero_steps=(2,))
    optimizer = LAMB(
        0.01, beta_1=0.9, beta_2=0.99, weight_decay=0.01, bias_correction=bias_correction
    )
    _run(
        optimizer,
        init,
        grads,
        lambda t: 0.01,
        [True] * 3,
        [True] * 3,
        bias_correction=bias_correction,
        **HPARAMS,
    )


def test_trust_ratio_clamping():
    init = _layer()
    grads = random_gradients([v.shape for v in init.values()], STEPS)
    optimizer = LAMB(
        0.01,
        beta_1=0.9,
        beta_2=0.99,
        weight_decay=0.01,
        weight_norm_clip=(0.5, 2.0),
        max_trust_ratio=0.8,
    )
    _run(
        optimizer,
        init,
        grads,
        lambda t: 0.01,
        [True] * 3,
        [True] * 3,
        norm_clip=(0.5, 2.0),
        max_ratio=0.8,
        **HPARAMS,
    )


def test_exclusions_by_path_regex_and_1d():
    init = _layer()
    grads = random_gradients([v.shape for v in init.values()], STEPS)
    optimizer = LAMB(
        0.01,
        beta_1=0.9,
        beta_2=0.99,
        weight_decay=0.01,
        exclude_from_weight_decay=["layer_norm", "bias"],
        exclude_from_layer_adaptation=[],
    )
    _run(
        optimizer, init, grads, lambda t: 0.01, [True, False, False], [True, True, True], **HPARAMS
    )
    optimizer = LAMB(0.01, beta_1=0.9, beta_2=0.99, weight_decay=0.01, exclude_1d_variables=True)
    _run(
        optimizer,
        init,
        grads,
        lambda t: 0.01,
        [True, False, False],
        [True, False, False],
        **HPARAMS,
    )


def test_zero_weights_and_zero_gradients():
    init = {"x/kernel": np.zeros((2, 3)), "x/bias": np.zeros(3)}
    grads = random_gradients([(2, 3), (3,)], STEPS, zero_steps=(0, 4))
    optimizer = LAMB(0.05, beta_1=0.9, beta_2=0.99, weight_decay=0.01)
    _run(optimizer, init, grads, lambda t: 0.05, [True, True], [True, True], **HPARAMS)


def test_matches_keras_lamb_without_decay():
    """With no decay and no exclusions LAMB is keras.optimizers.Lamb (epsilon aside)."""
    init = _layer()
    grads = random_gradients([v.shape for v in init.values()], STEPS)
    ours = [make_variable(v, p) for p, v in init.items()]
    theirs = [make_variable(v, p) for p, v in init.items()]
    opt_ours = LAMB(0.01, epsilon=1e-6)
    opt_theirs = keras.optimizers.Lamb(0.01, epsilon=1e-6)
    for step_grads in grads:
        opt_ours.apply_gradients(zip(step_grads, ours))
        opt_theirs.apply_gradients(zip(step_grads, theirs))
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(
            keras.ops.convert_to_numpy(a), keras.ops.convert_to_numpy(b), rtol=1e-5, atol=1e-7
        )


def test_config_round_trip():
    optimizer = LAMB(
        keras.optimizers.schedules.PolynomialDecay(1e-3, 10),
        weight_decay=0.01,
        bias_correction=False,
        weight_norm_clip=(0.0, 10.0),
        max_trust_ratio=5.0,
        exclude_from_weight_decay=["bias", "norm"],
    )
    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(optimizer))
    assert type(restored) is LAMB
    assert restored.get_config() == optimizer.get_config()


@pytest.mark.parametrize(
    "bad",
    [
        dict(beta_1=1.0),
        dict(beta_2=-0.1),
        dict(epsilon=-1.0),
        dict(weight_norm_clip=(2.0, 1.0)),
        dict(max_trust_ratio=0.0),
        dict(weight_decay=-0.1),
    ],
)
def test_bad_arguments(bad):
    with pytest.raises(ValueError):
        LAMB(1e-3, **bad)


@pytest.mark.parametrize("value", [float("inf"), float("nan")])
@pytest.mark.parametrize(
    "argument",
    ["learning_rate", "beta_1", "beta_2", "epsilon", "weight_decay", "max_trust_ratio"],
)
def test_non_finite_hyperparameters_are_rejected(argument, value):
    with pytest.raises(ValueError, match=f"^{argument} must be a finite number"):
        LAMB(**{argument: value})


@pytest.mark.parametrize(
    "clip, message",
    [
        ((0.0, float("inf")), r"weight_norm_clip\[1\] must be a finite number >= 0"),
        ((float("nan"), 1.0), r"weight_norm_clip\[0\] must be a finite number >= 0"),
        ((2.0, 1.0), r"weight_norm_clip\[1\] must be a finite number >= 2, got 1.0"),
    ],
)
def test_weight_norm_clip_must_be_finite_and_ordered(clip, message):
    with pytest.raises(ValueError, match=message):
        LAMB(weight_norm_clip=clip)
