"""epsilon-sharpness against the exact box maximum of a convex quadratic (all 2^n vertices)."""

import itertools

import keras
import numpy as np
import pytest
import tensorflow as tf

from lbkeras.analysis import epsilon_sharpness, measure_sharpness


def _least_squares(seed, features=5, at_minimum=True):
    """Linear regression with mean squared error: a convex quadratic in its 6 weights."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(40, features)) @ rng.normal(size=(features, features))
    y = x @ rng.normal(size=features) + 0.5 * rng.normal(size=40) + 1.0
    design = np.concatenate([x, np.ones((40, 1))], axis=1)
    solution = np.linalg.lstsq(design, y, rcond=None)[0]
    if not at_minimum:
        solution = solution + 0.05 * rng.normal(size=solution.size)
    model = keras.Sequential([keras.Input((features,)), keras.layers.Dense(1)])
    model.compile(loss="mean_squared_error")
    model.set_weights([solution[:-1, None], solution[-1:]])
    return model, design, y, solution


def _exact_box_maximum(design, y, w, epsilon):
    """The maximum of a convex function over a box is at a vertex: try all of them."""
    radius = epsilon * (np.abs(w) + 1)
    loss = lambda v: np.mean((design @ v - y) ** 2)  # noqa: E731
    return max(
        loss(w + np.array(signs) * radius) for signs in itertools.product([-1, 1], repeat=w.size)
    ), loss(w)


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("at_minimum", [True, False])
def test_ascent_reaches_the_box_maximum_and_restores_the_weights(float64, seed, at_minimum):
    model, design, y, w = _least_squares(seed, at_minimum=at_minimum)
    before = [v.copy() for v in model.get_weights()]
    batches = [(design[:25, :-1], y[:25, None]), (design[25:, :-1], y[25:, None])]
    epsilon = 0.05
    found = epsilon_sharpness(model, batches, epsilon=epsilon, restarts=4, seed=seed)
    maximum, base = _exact_box_maximum(design, y, w, epsilon)
    assert found.loss == pytest.approx(base, rel=1e-12)
    assert found.max_loss <= maximum * (1 + 1e-12)  # every point tried is in the box
    assert found.max_loss - base >= 0.95 * (maximum - base)
    assert found.sharpness == pytest.approx((found.max_loss - base) / (1 + base) * 100)
    radius = epsilon * (np.abs(w) + 1)
    assert np.all(np.abs(found.perturbation) <= radius * (1 + 1e-12))
    for restored, original in zip(model.get_weights(), before):
        assert np.array_equal(restored, original)  # bit for bit


def test_weights_restored_when_the_loss_raises(float64):
    model, design, y, _ = _least_squares(0)
    before = [v.copy() for v in model.get_weights()]
    batches = [(design[:, :-1], y[:, None])]
    calls = tf.Variable(0)

    def failing_loss(y_true, y_pred):  # fails at its third evaluation, mid-ascent
        calls.assign_add(1)
        with tf.control_dependencies([tf.debugging.assert_less(calls, 3, message="boom")]):
            return keras.ops.mean((y_true - y_pred) ** 2)

    with pytest.raises(tf.errors.InvalidArgumentError, match="boom"):
        epsilon_sharpness(model, batches, loss=failing_loss, spectral_iterations=0)
    for restored, original in zip(model.get_weights(), before):
        assert np.array_equal(restored, original)


def test_measure_sharpness_combines_both(float64):
    model, design, y, w = _least_squares(1)
    batches = [(design[:, :-1], y[:, None])]
    measured = measure_sharpness(model, batches, epsilon=1e-3, power_iterations=500, tolerance=1e-9)
    hessian = 2 * design.T @ design / len(y)
    assert measured["top_hessian_eigenvalue"] == pytest.approx(
        np.linalg.eigvalsh(hessian).max(), rel=1e-4
    )
    maximum, base = _exact_box_maximum(design, y, w, 1e-3)
    assert measured["loss"] == pytest.approx(base)
    assert 0 < measured["epsilon_sharpness"] <= (maximum - base) / (1 + base) * 100 * (1 + 1e-9)
    assert (measured["num_batches"], measured["num_examples"], measured["epsilon"]) == (1, 40, 1e-3)


def test_bad_epsilon_is_refused():
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile(loss="mean_squared_error")
    with pytest.raises(ValueError, match="epsilon"):
        epsilon_sharpness(model, [(np.ones((2, 2)), np.ones((2, 1)))], epsilon=0.0)
