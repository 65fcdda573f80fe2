"""OptimizerWrapper's plumbing: a wrapped optimizer behaves as if it ran alone; the registry.

Backend-independent: also run with KERAS_BACKEND=jax (tests/backend_jax_test.py).
"""

import keras
import numpy as np
import pytest

from lbkeras import optimizers
from lbkeras.optimizers import (
    LAMB,
    AdaptiveGradientClipping,
    GradientNoise,
    Lookahead,
    OptimizerWrapper,
    TrustRatio,
)
from lbkeras.optimizers.wrapper import chain, find_in_chain
from tests.optimizers.common import make_variable, random_gradients
from tests.optimizers.stepping import apply, values

SHAPES = [(4, 3), (3,)]


def _train(optimizer, steps=4, scale=1.0):
    """The variables after ``steps`` steps of fixed random gradients (times ``scale``)."""
    rng = np.random.default_rng(0)
    variables = [make_variable(rng.normal(size=s), f"layer/v{i}") for i, s in enumerate(SHAPES)]
    for grads in random_gradients(SHAPES, steps):
        apply(optimizer, variables, [scale * g for g in grads])
    return values(variables)


@pytest.mark.parametrize(
    "make",
    [
        lambda: keras.optimizers.SGD(0.1, momentum=0.9, nesterov=True),
        lambda: keras.optimizers.Adam(keras.optimizers.schedules.ExponentialDecay(0.1, 2, 0.5)),
        lambda: keras.optimizers.SGD(0.5, clipnorm=0.1),  # clipping is delegated
        lambda: keras.optimizers.AdamW(0.1, weight_decay=0.3),  # so is decoupled decay
        lambda: LAMB(0.01, weight_decay=0.1),
    ],
)
def test_identity_wrapper_is_the_wrapped_optimizer(make):
    for ours, alone in zip(_train(OptimizerWrapper(make())), _train(make())):
        np.testing.assert_allclose(ours, alone, rtol=1e-6, atol=1e-7)


def test_weight_decay_exclusions_reach_the_wrapped_optimizer():
    rng = np.random.default_rng(0)
    variables = [make_variable(rng.normal(size=s), f"layer/v{i}") for i, s in enumerate(SHAPES)]
    before = values(variables)
    optimizer = Lookahead(TrustRatio(keras.optimizers.AdamW(0.1, weight_decay=0.5)))
    optimizer.exclude_from_weight_decay(var_names=["v1"])
    zero = [np.zeros(s, np.float32) for s in SHAPES]
    apply(optimizer, variables, zero)  # zero gradients: only the decay moves a variable
    decayed, excluded = values(variables)
    np.testing.assert_allclose(decayed, before[0] * (1 - 0.1 * 0.5), rtol=1e-6)
    np.testing.assert_array_equal(excluded, before[1])


def test_a_chain_shares_one_step_counter_and_saves_each_variable_once():
    sgd = keras.optimizers.SGD(0.1, momentum=0.9)
    noise = GradientNoise(sgd, seed=0)
    optimizer = TrustRatio(noise)
    _train(optimizer, steps=3)
    assert optimizer.iterations is sgd.iterations and noise.iterations is sgd.iterations
    assert int(keras.ops.convert_to_numpy(sgd.iterations)) == 3
    ids = [id(v) for v in optimizer.variables]
    assert len(ids) == len(set(ids))
    # TrustRatio's applied ratios (one per variable), the noise seed state, then SGD's
    # counter, learning rate and two momenta.
    assert len(optimizer.variables) == len(SHAPES) + 1 + 2 + len(SHAPES)
    assert optimizer.variables[len(SHAPES) + 1] is sgd.iterations


def test_learning_rate_is_the_wrapped_optimizers():
    sgd = keras.optimizers.SGD(0.1)
    optimizer = Lookahead(TrustRatio(sgd))
    np.testing.assert_allclose(keras.ops.convert_to_numpy(optimizer.learning_rate), 0.1)
    optimizer.learning_rate = 0.25  # what keras.callbacks.LearningRateScheduler does
    np.testing.assert_allclose(keras.ops.convert_to_numpy(sgd.learning_rate), 0.25)
    assert optimizer._learning_rate is sgd._learning_rate  # read by lbkeras.callbacks


def _fit_regression(optimizer, epochs=3):
    """A linear model fitted on 128 examples in batches of 32; returns (model, history)."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(128, 4)).astype("float32")
    y = (x @ rng.normal(size=(4, 1)) + 1.0).astype("float32")
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
    model.compile(optimizer=optimizer, loss="mse")
    history = model.fit(x, y, batch_size=32, epochs=epochs, shuffle=False, verbose=0)
    return model, history


def test_mixed_precision_puts_loss_scaling_around_the_wrapper():
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        model, history = _fit_regression(TrustRatio(keras.optimizers.SGD(0.05)), epochs=1)
    finally:
        keras.mixed_precision.set_global_policy("float32")
    assert isinstance(model.optimizer, keras.optimizers.LossScaleOptimizer)
    assert isinstance(model.optimizer.inner_optimizer, TrustRatio)
    # Steps with overflowing gradients (the first, at the initial loss scale) are skipped.
    assert 1 <= int(keras.ops.convert_to_numpy(model.optimizer.iterations)) <= 4
    assert np.isfinite(history.history["loss"]).all()


@pytest.mark.parametrize(
    "inner, error",
    [
        ("sgd", TypeError),
        (keras.optimizers.SGD(use_ema=True), ValueError),
        (keras.optimizers.SGD(gradient_accumulation_steps=2), ValueError),
        (keras.optimizers.SGD(loss_scale_factor=128.0), ValueError),
        (keras.optimizers.LossScaleOptimizer(keras.optimizers.SGD()), ValueError),
    ],
)
def test_rejects_what_it_cannot_honour(inner, error):
    with pytest.raises(error):
        TrustRatio(inner)


@pytest.mark.parametrize("value", [float("inf"), float("nan")])
@pytest.mark.parametrize(
    "wrapper, argument",
    [
        (TrustRatio, "trust_coefficient"),
        (TrustRatio, "epsilon"),
        (AdaptiveGradientClipping, "clipping"),
        (AdaptiveGradientClipping, "eps"),
        (Lookahead, "slow_step_size"),
        (GradientNoise, "eta"),
        (GradientNoise, "gamma"),
    ],
)
def test_non_finite_hyperparameters_are_rejected(wrapper, argument, value):
    with pytest.raises(ValueError, match=f"^{argument} must be a finite number"):
        wrapper(keras.optimizers.SGD(), **{argument: value})


def test_nested_config_round_trip():
    optimizer = AdaptiveGradientClipping(
        Lookahead(TrustRatio(GradientNoise(keras.optimizers.SGD(0.1, momentum=0.9), seed=1))),
        clipping=0.05,
    )
    restored = keras.optimizers.deserialize(keras.optimizers.serialize(optimizer))
    assert restored.get_config() == optimizer.get_config()
    chain = []
    while isinstance(restored, OptimizerWrapper):
        chain.append(type(restored))
        restored = restored.inner_optimizer
    assert chain == [AdaptiveGradientClipping, Lookahead, TrustRatio, GradientNoise]
    assert type(restored) is keras.optimizers.SGD and restored.momentum == 0.9


def test_registry_builds_wrappers_around_named_or_given_optimizers():
    lookahead = optimizers.get(
        "lookahead", optimizer="sgd", optimizer_options={"learning_rate": 0.1}, sync_period=5
    )
    assert isinstance(lookahead, Lookahead) and lookahead.sync_period == 5
    np.testing.assert_allclose(keras.ops.convert_to_numpy(lookahead.learning_rate), 0.1)
    nested = optimizers.get(
        "trust_ratio",
        optimizer="gradient_noise",
        optimizer_options={"optimizer": "lars", "optimizer_options": {"momentum": 0.8}},
        trust_coefficient=0.01,
    )
    assert nested.trust_coefficient == 0.01
    assert nested.inner_optimizer.inner_optimizer.momentum == 0.8
    adam = keras.optimizers.Adam()
    assert optimizers.get("agc", optimizer=adam, clipping=0.02).inner_optimizer is adam
    with pytest.raises(ValueError, match="optimizer_options"):
        optimizers.get("agc", optimizer=adam, optimizer_options={"learning_rate": 1.0})
    for name, cls in [
        ("trust_ratio", TrustRatio),
        ("gradient_noise", GradientNoise),
        ("lookahead", Lookahead),
        ("agc", AdaptiveGradientClipping),
    ]:
        assert isinstance(optimizers.get(name), cls)


@pytest.mark.parametrize(
    "make",
    [
        lambda: TrustRatio(GradientNoise(keras.optimizers.SGD(0.05, momentum=0.9), seed=0), 0.1),
        lambda: Lookahead(LAMB(0.05)),
        lambda: AdaptiveGradientClipping(Lookahead(keras.optimizers.SGD(0.1)), clipping=0.1),
    ],
)
def test_model_fit_trains_through_the_chain(make):
    model, history = _fit_regression(make())
    assert history.history["loss"][-1] < history.history["loss"][0]  # conformance_test: > 90%
    assert int(keras.ops.convert_to_numpy(model.optimizer.iterations)) == 12


def test_chain_walks_wrappers_and_loss_scaling_outermost_first():
    sgd = keras.optimizers.SGD(0.1)
    trust_ratio = TrustRatio(sgd)
    lookahead = Lookahead(trust_ratio)
    scaled = keras.optimizers.LossScaleOptimizer(lookahead)
    assert chain(scaled) == [scaled, lookahead, trust_ratio, sgd]
    assert lookahead.chain() == [lookahead, trust_ratio, sgd]
    assert chain(sgd) == [sgd]
    assert find_in_chain(scaled, TrustRatio) is trust_ratio
    assert find_in_chain(scaled, OptimizerWrapper) is lookahead  # the first, outermost
    assert find_in_chain(scaled, GradientNoise) is None
