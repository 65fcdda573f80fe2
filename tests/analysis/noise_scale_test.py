"""The exact noise scale (lbkeras.analysis.noise_scale) against NumPy's closed forms for
softmax regression: per-example gradients ``x (p - onehot(y))ᵀ``, the Hessian
``mean_i (diag(p_i) - p_i p_iᵀ) ⊗ x_i x_iᵀ``, and B_simple and B_noise from them."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from lbkeras.analysis.noise_scale import (
    dense_hessian,
    exact_b_noise,
    exact_b_simple,
    per_example_gradients,
)

FEATURES, CLASSES, EXAMPLES = 5, 3, 37


@pytest.fixture
def problem():
    """A softmax regression (no bias) at random weights, its data, and NumPy's answers."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(EXAMPLES, FEATURES)).astype("float32")
    y = rng.integers(0, CLASSES, EXAMPLES)
    w = rng.normal(scale=0.5, size=(FEATURES, CLASSES)).astype("float32")
    model = keras.Sequential(
        [keras.Input((FEATURES,)), keras.layers.Dense(CLASSES, use_bias=False)]
    )
    model.compile(loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.layers[0].kernel.assign(w)
    logits = x.astype(np.float64) @ w
    p = np.exp(logits - logits.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    residual = p - np.eye(CLASSES)[y]
    # d loss / d W[f, c] = x[f] (p[c] - onehot[c]), flattened row-major as Keras's kernel.
    grads = np.einsum("if,ic->ifc", x, residual).reshape(EXAMPLES, -1)
    blocks = np.einsum("ic,cd->icd", p, np.eye(CLASSES)) - np.einsum("ic,id->icd", p, p)
    hessian = np.einsum("ifg,icd->fcgd", np.einsum("if,ig->ifg", x, x), blocks) / EXAMPLES
    return model, x, y, grads, hessian.reshape(FEATURES * CLASSES, FEATURES * CLASSES)


def test_per_example_gradients_are_the_closed_form(problem):
    model, x, y, expected, _ = problem
    batches = list(per_example_gradients(model, x, y, batch_size=10))
    assert [len(b) for b in batches] == [10, 10, 10, 7]
    np.testing.assert_allclose(np.concatenate(batches), expected, rtol=1e-5, atol=1e-6)


def test_b_simple_streamed_equals_numpy(problem):
    model, x, y, grads, _ = problem
    mean = grads.mean(axis=0)
    trace = np.trace(np.cov(grads, rowvar=False))  # unbiased: n - 1
    expected = trace / (mean @ mean)
    streamed = exact_b_simple(per_example_gradients(model, x, y, batch_size=8))
    assert streamed == pytest.approx(expected, rel=1e-4)
    assert exact_b_simple([grads[:20], grads[20:]]) == pytest.approx(expected, rel=1e-12)


def test_the_dense_hessian_and_b_noise_equal_numpy(problem):
    model, x, y, grads, expected = problem
    hessian = dense_hessian(model, x, y)
    np.testing.assert_allclose(hessian, expected, rtol=1e-4, atol=1e-6)
    mean = grads.mean(axis=0)
    sigma = np.cov(grads, rowvar=False)
    b_noise = np.trace(expected @ sigma) / (mean @ expected @ mean)
    assert exact_b_noise(grads, hessian) == pytest.approx(b_noise, rel=1e-4)


def test_b_simple_needs_two_examples():
    with pytest.raises(ValueError, match="2 or more examples"):
        exact_b_simple([np.ones((1, 3))])
