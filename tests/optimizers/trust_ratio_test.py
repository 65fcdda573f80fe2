"""TrustRatio against the NumPy reference, and what it does and does not reproduce of LARS/LAMB.

Backend-independent: also run with KERAS_BACKEND=jax (tests/backend_jax_test.py).
"""

import keras
import numpy as np
import pytest

from lbkeras.optimizers import LAMB, LARS, TrustRatio
from tests.optimizers import reference
from tests.optimizers.common import make_variable, random_gradients
from tests.optimizers.stepping import apply, cosine, run_against_reference, values

STEPS = 6
# _side_by_side reads each update back as a difference of float32 weights (all |w| < 2
# here), so two optimizers that compute the same step end a few units in the last place
# (ulp) of w apart: measured up to 2 ulp (2.4e-7), which atol=1e-7 (under one ulp of 1.0)
# left to chance (0.44 of it). 16 ulp of 2.0: measured 0.06 of it; a trust coefficient
# off by 0.5% is >10 times over.
UPDATE_ATOL = 16 * float(np.spacing(np.float32(2.0)))


def _layer(seed=1):
    rng = np.random.default_rng(seed)
    return {
        "block/dense/kernel": rng.normal(size=(4, 3)),
        "block/dense/bias": np.zeros(3),  # zero-initialised: trust ratio 1
        "block/norm/gamma": np.ones(3),
    }


def _grads(init, **kwargs):
    return random_gradients([np.shape(v) for v in init.values()], STEPS, **kwargs)


def _sgd_reference(lr_at, momentum, nesterov, coef, eps, adapts):
    momenta = {}

    def step(t, weights, grads):
        out = []
        for i, (w, g) in enumerate(zip(weights, grads)):
            moved, momenta[i] = reference.sgd_step(
                w, g, momenta.get(i, 0.0), lr_at(t), momentum=momentum, nesterov=nesterov
            )
            out.append(
                reference.trust_ratio_update(
                    w, moved - w, lr_at(t), coef=coef, eps=eps, adapt=adapts[i]
                )
            )
        return out

    return step


@pytest.mark.parametrize("nesterov", [False, True])
def test_matches_reference_around_sgd_momentum(nesterov):
    init = _layer()
    sgd = keras.optimizers.SGD(0.5, momentum=0.9, nesterov=nesterov)
    optimizer = TrustRatio(sgd, trust_coefficient=0.02, epsilon=1e-3)
    step = _sgd_reference(lambda t: 0.5, 0.9, nesterov, 0.02, 1e-3, [True] * 3)
    run_against_reference(optimizer, init, _grads(init, zero_steps=(3,)), step)


def test_schedule_sets_the_rate_the_ratio_divides_by():
    schedule = keras.optimizers.schedules.PolynomialDecay(2.0, STEPS, 0.1, power=2.0)
    lr_at = lambda t: (2.0 - 0.1) * (1 - t / STEPS) ** 2 + 0.1  # noqa: E731
    init = _layer()
    optimizer = TrustRatio(keras.optimizers.SGD(schedule, momentum=0.5), trust_coefficient=0.01)
    step = _sgd_reference(lr_at, 0.5, False, 0.01, 0.0, [True] * 3)
    run_against_reference(optimizer, init, _grads(init), step)


def test_step_moves_lr_times_coefficient_times_weight_norm():
    kernel = make_variable(np.random.default_rng(0).normal(size=(5, 4)), "dense/kernel")
    before = values([kernel])[0]
    apply(
        TrustRatio(keras.optimizers.SGD(0.3), trust_coefficient=0.01), [kernel], [np.ones((5, 4))]
    )
    step = np.linalg.norm(values([kernel])[0] - before)
    np.testing.assert_allclose(step, 0.3 * 0.01 * np.linalg.norm(before), rtol=1e-4)


def test_matches_reference_around_adam():
    init = _layer()
    adam = keras.optimizers.Adam(0.01, beta_1=0.8, beta_2=0.9, epsilon=1e-3)
    optimizer = TrustRatio(adam, trust_coefficient=0.5, epsilon=1e-4)
    moments = {}

    def step(t, weights, grads):
        out = []
        for i, (w, g) in enumerate(zip(weights, grads)):
            m, v = moments.get(i, (0.0, 0.0))
            moved, m, v = reference.adam_step(
                w, g, m, v, t + 1, 0.01, beta_1=0.8, beta_2=0.9, eps=1e-3
            )
            moments[i] = m, v
            out.append(reference.trust_ratio_update(w, moved - w, 0.01, coef=0.5, eps=1e-4))
        return out

    run_against_reference(optimizer, init, _grads(init, zero_steps=(4,)), step, rtol=1e-4)


@pytest.mark.parametrize(
    "kwargs, adapts",
    [
        (dict(exclude_from_layer_adaptation=[r"dense/bias$", "gamma"]), [True, False, False]),
        (dict(exclude_from_layer_adaptation="kernel"), [False, True, True]),
        (dict(exclude_1d_variables=True), [True, False, False]),
    ],
)
def test_exclusions(kwargs, adapts):
    init = _layer()
    optimizer = TrustRatio(keras.optimizers.SGD(0.5, momentum=0.9), 0.02, **kwargs)
    step = _sgd_reference(lambda t: 0.5, 0.9, False, 0.02, 0.0, adapts)
    run_against_reference(optimizer, init, _grads(init), step)


def test_zero_weights_and_zero_gradients_take_the_wrapped_step():
    init = {"a/kernel": np.zeros((3, 3)), "a/bias": np.zeros(3)}
    grads = random_gradients([(3, 3), (3,)], STEPS, zero_steps=(0, 2))
    optimizer = TrustRatio(keras.optimizers.SGD(0.3, momentum=0.5), trust_coefficient=0.001)
    step = _sgd_reference(lambda t: 0.3, 0.5, False, 0.001, 0.0, [True, True])
    variables = run_against_reference(optimizer, init, grads, step)
    assert np.abs(values(variables)[0]).sum() > 0, "a zero-initialised kernel never moved"


def _side_by_side(wrapped, layerwise, init, grads):
    """Per step, the two optimizers' updates of every variable from the same start."""
    a = [make_variable(v, "x/" + p) for p, v in init.items()]
    b = [make_variable(v, "y/" + p) for p, v in init.items()]
    updates = []
    for step_grads in grads:
        before_a, before_b = values(a), values(b)
        apply(wrapped, a, step_grads)
        apply(layerwise, b, step_grads)
        updates.append(
            [(ua - wa, ub - wb) for ua, wa, ub, wb in zip(values(a), before_a, values(b), before_b)]
        )
    return updates


def test_momentum_free_sgd_equals_lars_at_every_step():
    init = _layer()
    wrapped = TrustRatio(keras.optimizers.SGD(0.5), trust_coefficient=0.02, epsilon=1e-3)
    lars = LARS(0.5, momentum=0.0, trust_coefficient=0.02, epsilon=1e-3)
    for step in _side_by_side(wrapped, lars, init, _grads(init, zero_steps=(2,))):
        for ours, theirs in step:
            np.testing.assert_allclose(ours, theirs, rtol=1e-4, atol=UPDATE_ATOL)


def test_sgd_momentum_equals_lars_at_the_first_step_only():
    init = _layer()
    grads = _grads(init)
    grads[1] = [3.0 * g for g in grads[1]]  # another gradient norm, another LARS ratio
    wrapped = TrustRatio(keras.optimizers.SGD(0.5, momentum=0.9), trust_coefficient=0.02)
    lars = LARS(0.5, momentum=0.9, trust_coefficient=0.02, epsilon=0.0)
    first, second = _side_by_side(wrapped, lars, init, grads[:2])
    for ours, theirs in first:
        np.testing.assert_allclose(ours, theirs, rtol=1e-4, atol=UPDATE_ATOL)
    kernel, _ = second[0]  # the kernel: adapted, and its ratio changed
    lars_kernel = second[0][1]
    assert cosine(kernel, lars_kernel) < 0.999  # LARS scales gradients inside the momentum
    # ... while the wrapper's step is parallel to momentum SGD's: m <- 0.9 m - lr g.
    sgd_step = 0.9 * (-0.5 * grads[0][0]) - 0.5 * grads[1][0]
    np.testing.assert_allclose(cosine(kernel, sgd_step), 1.0, atol=1e-6)


@pytest.mark.parametrize("nesterov", [False, True])
def test_gradient_scale_around_sgd_momentum_equals_lars_at_every_step(nesterov):
    init = _layer()
    grads = _grads(init, zero_steps=(2,))
    grads[1] = [3.0 * g for g in grads[1]]  # another gradient norm, another ratio
    sgd = keras.optimizers.SGD(0.5, momentum=0.9, nesterov=nesterov)
    wrapped = TrustRatio(sgd, trust_coefficient=0.02, epsilon=1e-3, scale="gradient")
    lars = LARS(0.5, momentum=0.9, nesterov=nesterov, trust_coefficient=0.02, epsilon=1e-3)
    for step in _side_by_side(wrapped, lars, init, grads):
        for ours, theirs in step:
            np.testing.assert_allclose(ours, theirs, rtol=1e-4, atol=UPDATE_ATOL)


@pytest.mark.parametrize(
    "kwargs, adapts",
    [
        (dict(), [True, True, True]),
        (dict(exclude_from_layer_adaptation="gamma"), [True, True, False]),
        (dict(exclude_1d_variables=True), [True, False, False]),
    ],
)
def test_gradient_scale_matches_lars_reference(kwargs, adapts):
    init = _layer()
    sgd = keras.optimizers.SGD(0.5, momentum=0.9)
    optimizer = TrustRatio(sgd, 0.02, epsilon=1e-3, scale="gradient", **kwargs)
    velocities = {}

    def step(t, weights, grads):
        out = []
        for i, (w, g) in enumerate(zip(weights, grads)):
            w, velocities[i] = reference.lars_step(
                w, g, velocities.get(i, 0.0), 0.5, momentum=0.9, eta=0.02, beta=0.0,
                eps=1e-3, adapt=adapts[i],
            )  # fmt: skip
            out.append(w)
        return out

    run_against_reference(optimizer, init, _grads(init, zero_steps=(3,)), step)


def test_adam_with_zero_epsilon_equals_lamb_at_every_step():
    init = _layer()
    grads = _grads(init, zero_steps=(3,))
    wrapped = TrustRatio(keras.optimizers.Adam(0.01, 0.8, 0.9, epsilon=0.0))
    lamb = LAMB(0.01, beta_1=0.8, beta_2=0.9, epsilon=0.0)
    for step in _side_by_side(wrapped, lamb, init, grads):
        for ours, theirs in step:
            np.testing.assert_allclose(ours, theirs, rtol=1e-4, atol=UPDATE_ATOL)


def test_adam_with_matched_epsilon_equals_lamb_at_the_first_step():
    init = _layer()
    epsilon = 0.1  # large, so that a mismatch would show
    adam = keras.optimizers.Adam(0.01, 0.8, 0.9, epsilon=epsilon * np.sqrt(1 - 0.9))
    lamb = LAMB(0.01, beta_1=0.8, beta_2=0.9, epsilon=epsilon)
    first, later = _side_by_side(TrustRatio(adam), lamb, init, _grads(init)[:2])
    for ours, theirs in first:
        np.testing.assert_allclose(ours, theirs, rtol=1e-4, atol=UPDATE_ATOL)
    for ours, theirs in later:  # close, but Adam's epsilon is now another LAMB epsilon
        assert cosine(ours, theirs) > 0.99


def test_config_round_trip():
    optimizer = TrustRatio(
        keras.optimizers.SGD(0.1, momentum=0.9),
        trust_coefficient=0.001,
        epsilon=1e-9,
        exclude_from_layer_adaptation=["bias"],
        exclude_1d_variables=True,
        scale="gradient",
    )
    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(optimizer))
    assert type(restored) is TrustRatio
    assert type(restored.inner_optimizer) is keras.optimizers.SGD
    assert restored.get_config() == optimizer.get_config()


@pytest.mark.parametrize(
    "bad",
    [
        dict(trust_coefficient=0.0),
        dict(epsilon=-1.0),
        dict(exclude_from_layer_adaptation=["("]),
        dict(scale="momentum"),
    ],
)
def test_bad_arguments(bad):
    with pytest.raises(ValueError):
        TrustRatio(keras.optimizers.SGD(), **bad)
