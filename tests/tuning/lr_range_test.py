"""lbkeras.tuning.lr_range against NumPy references and a quadratic of known curvature."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import lbkeras
from lbkeras.tuning.lr_range import (
    lr_range_test,
    should_stop,
    smooth,
    suggest,
)
from tests.tuning.lr_ramp_test import reference_ramp


def test_smoothing_is_the_debiased_moving_average():
    losses = np.random.default_rng(0).uniform(1, 3, size=40)
    b = 0.9
    # Closed form: sum_j b^(i-j) (1-b) loss_j / (1 - b^(i+1)).
    i = np.arange(40)
    weights = np.where(i[None, :] <= i[:, None], b ** (i[:, None] - i[None, :]) * (1 - b), 0)
    expected = weights @ losses / (1 - b ** (i + 1))
    np.testing.assert_allclose(smooth(losses, b), expected, rtol=1e-12)
    assert smooth([5.0], 0.98)[0] == pytest.approx(5.0)  # debiased: no pull towards 0
    np.testing.assert_array_equal(smooth(losses, 0.0), losses)


def test_stop_rule():
    assert not should_stop(4.0, best=1.0, stop_factor=4.0)
    assert should_stop(4.0001, best=1.0, stop_factor=4.0)
    assert should_stop(float("nan"), best=1.0, stop_factor=4.0)
    assert should_stop(float("inf"), best=1.0, stop_factor=4.0)
    assert not should_stop(1.0, best=float("inf"), stop_factor=4.0)  # the first step


def test_steepest_is_against_log_lr_after_the_skipped_start():
    lrs = np.geomspace(1e-6, 1.0, 121)  # 20 points per decade
    center = 1e-3
    losses = 2.0 - np.tanh(2.0 * np.log10(lrs / center))  # falls fastest at lr = 1e-3
    losses[:5] = [9.0, 7.0, 5.0, 3.0, 2.5]  # a steep start, inside the skipped 10%
    got = suggest(lrs, losses, skip_start=0.1)
    assert got["steepest"] == pytest.approx(center, rel=1e-9)
    # Differentiating against lr itself would land elsewhere (the known bug).
    assert lrs[np.argmin(np.gradient(losses[12:], lrs[12:])) + 12] != pytest.approx(center)
    assert suggest(lrs, losses, skip_start=0.0)["steepest"] <= lrs[1]  # not skipped


def test_valley_is_half_way_down_the_longest_falling_run():
    lrs = np.geomspace(1e-5, 10.0, 61)
    losses = np.full(61, 2.5)
    losses[[3, 7, 11]] = [2.45, 2.48, 2.46]  # short noisy dips on the plateau
    losses[20:41] = np.linspace(2.49, 0.5, 21)  # falls from index 19 to 40
    losses[41:] = np.linspace(0.6, 5.0, 20)
    got = suggest(lrs, losses, skip_start=0.0)
    # Half of the drop from 2.5 (index 19) to 0.5 (index 40): 2.49 - 0.0995 k <= 1.5, k = 10.
    assert got["valley"] == pytest.approx(lrs[30])
    assert got["minimum/10"] == pytest.approx(lrs[40] / 10)
    losses[45] = np.inf  # points that are not finite are left out
    assert suggest(lrs, losses, skip_start=0.0) == got


def _constant_gradient_model(weight: float) -> keras.Model:
    """loss = w (input 1): the gradient is 1, so SGD's step is exactly the rate."""
    model = keras.Sequential(
        [
            keras.Input((1,)),
            keras.layers.Dense(
                1, use_bias=False, kernel_initializer=keras.initializers.Constant(weight)
            ),
        ]
    )
    model.compile(optimizer=keras.optimizers.SGD(0.5), loss=lambda y, p: keras.ops.mean(p))
    return model


def test_each_step_uses_the_ramp_and_records_its_own_loss():
    model = _constant_gradient_model(100.0)
    data = tf.data.Dataset.from_tensors((np.ones((4, 1), "float32"), np.zeros((4, 1), "float32")))
    model.fit(
        data.repeat(3), verbose=0, shuffle=False
    )  # 3 steps at 0.5 first: the ramp starts at step 3
    test = lr_range_test(
        model, data.repeat(), min_lr=1e-3, max_lr=1.0, num_steps=20, skip_start=0.0
    )
    expected_lrs = reference_ramp(np.arange(20), 1e-3, 1.0, 20, "exponential", 0)
    np.testing.assert_allclose(test.lrs, expected_lrs, rtol=2e-6)
    # Step i's loss is the weight before its update: 98.5 minus the rates of steps < i.
    expected_losses = 98.5 - np.concatenate([[0.0], np.cumsum(expected_lrs)[:-1]])
    np.testing.assert_allclose(test.losses, expected_losses, rtol=1e-6)
    np.testing.assert_allclose(test.smoothed, smooth(test.losses, 0.98))
    assert test.diverged_at is None and test.recommended == "valley"
    assert float(model.layers[0].kernel.numpy()[0, 0]) == 98.5  # restored


def _quadratic(seed: int):
    """Least squares on fixed inputs: loss = mean((x w - y)^2), Hessian 2 x^T x / n."""
    rng = np.random.default_rng(0)
    x = (rng.normal(size=(1024, 8)) * np.geomspace(0.3, 3.0, 8)).astype("float32")
    y = (x @ rng.normal(size=(8, 1)) + 0.5 * rng.normal(size=(1024, 1))).astype("float32")
    largest = np.linalg.eigvalsh(2 * x.astype(np.float64).T @ x / len(x)).max()
    keras.utils.set_random_seed(seed)
    model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(1, use_bias=False)])
    model.compile(optimizer=keras.optimizers.SGD(0.01), loss="mse")
    data = tf.data.Dataset.from_tensor_slices((x, y)).shuffle(1024, seed=seed).batch(16)
    return model, data.repeat(), 2 / largest


@pytest.mark.parametrize("seed", [0, 1])
def test_acceptance_blow_up_within_a_factor_2_of_the_sgd_stability_limit(seed):
    model, data, limit = _quadratic(seed)  # SGD without momentum diverges above 2 / L
    test = lr_range_test(model, data, min_lr=1e-3, max_lr=10.0, num_steps=200)
    assert test.diverged_at is not None
    assert limit / 2 <= test.diverged_at <= 2 * limit, (test.diverged_at, limit)
    # The stop rule fired at the last step, and only there.
    best = np.minimum.accumulate(test.smoothed)
    assert test.smoothed[-1] > 4 * best[-2]
    assert np.all(np.array(test.smoothed[1:-1]) <= 4 * best[:-2])
    assert test.recommended_learning_rate < limit  # the recommendation trains


def _model(optimizer: keras.optimizers.Optimizer) -> keras.Model:
    """Weights, batch-norm statistics and a dropout seed: all state the test must restore."""
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [
            keras.Input((6,)),
            keras.layers.Dense(16, activation="relu"),
            keras.layers.BatchNormalization(),
            keras.layers.Dropout(0.2),
            keras.layers.Dense(3),
        ]
    )
    model.compile(
        optimizer=optimizer,
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    return model


def _data() -> tf.data.Dataset:
    rng = np.random.default_rng(1)
    x = rng.normal(size=(128, 6)).astype("float32")
    return tf.data.Dataset.from_tensor_slices((x, (x[:, 0] > 0).astype("int32") + (x[:, 1] > 0)))


def _adam():
    return keras.optimizers.Adam(1e-3)


def _chain():
    """Gradient accumulation around Lookahead around LARS, whose rate is a schedule."""
    schedule = lbkeras.schedules.Warmup(0.1, warmup_steps=4)
    return lbkeras.optimizers.get(
        "gradient_accumulation",
        optimizer=lbkeras.optimizers.get(
            "lookahead",
            optimizer="lars",
            optimizer_options={"learning_rate": schedule, "momentum": 0.9, "weight_decay": 1e-3},
            sync_period=3,
        ),
        steps=2,
    )


def _values(variables) -> list[np.ndarray]:
    return [np.array(v.numpy()) for v in variables]


@pytest.mark.parametrize(("make_optimizer", "steps_before"), [(_adam, 0), (_adam, 6), (_chain, 6)])
def test_restores_everything_and_training_continues_as_if_it_never_ran(
    make_optimizer, steps_before
):
    data = _data().batch(16).repeat()
    tested = _model(make_optimizer())
    untouched = _model(make_optimizer())
    for model in (tested, untouched):
        if steps_before:
            model.fit(data, epochs=1, steps_per_epoch=steps_before, verbose=0, shuffle=False)
        else:  # never trained: the test builds the optimizer as fit would
            lbkeras.distribute.keras_compat.prebuild(model, data.element_spec)
    optimizer = tested.optimizer
    paths = [v.path for v in optimizer.variables]
    before = _values(tested.variables) + _values(optimizer.variables)
    rate = optimizer.learning_rate
    rate = np.array(rate.numpy() if hasattr(rate, "numpy") else rate)

    test = lr_range_test(tested, data, min_lr=1e-4, max_lr=100.0, num_steps=40)
    assert len(test.losses) >= 5 and test.lrs[0] == pytest.approx(1e-4)

    assert [v.path for v in optimizer.variables] == paths  # same variables, same order
    after = _values(tested.variables) + _values(optimizer.variables)
    for old, new in zip(before, after, strict=True):
        np.testing.assert_array_equal(new, old)
    now = optimizer.learning_rate
    np.testing.assert_array_equal(np.array(now.numpy() if hasattr(now, "numpy") else now), rate)
    for model in (tested, untouched):
        model.fit(data, epochs=2, steps_per_epoch=4, verbose=0, shuffle=False)
    for old, new in zip(
        _values(untouched.variables) + _values(untouched.optimizer.variables),
        _values(tested.variables) + _values(tested.optimizer.variables),
        strict=True,
    ):
        np.testing.assert_array_equal(new, old)


def test_bad_settings_and_an_uncompiled_model_raise_one_line_errors():
    model = _model(_adam())
    data = _data().batch(16).repeat()
    with pytest.raises(ValueError, match="min_lr=1 must be below max_lr=0.1: lower min_lr"):
        lr_range_test(model, data, min_lr=1.0, max_lr=0.1)
    with pytest.raises(ValueError, match="num_steps must be an integer > 0, got 0"):
        lr_range_test(model, data, num_steps=0)
    with pytest.raises(ValueError, match="recommend='best'; choose one of: valley, steepest"):
        lr_range_test(model, data, recommend="best")
    with pytest.raises(ValueError, match="needs a compiled model"):
        lr_range_test(keras.Sequential([keras.Input((6,)), keras.layers.Dense(3)]), data)
