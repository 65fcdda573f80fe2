"""Hessian-vector products and the top eigenvalue against Hessians NumPy forms itself."""

import keras
import numpy as np
import pytest

from lbkeras.analysis import BatchLoss, HessianVectorProduct, top_hessian_eigenvalue


def _batches(rng, features, classes, sizes):
    return [(rng.normal(size=(n, features)), rng.integers(0, classes, size=n)) for n in sizes]


def _softmax(z):
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def _logistic_hessian(kernel, bias, batches):
    """Mean over all examples of kron([x;1][x;1]^T, diag(p) - p p^T): the variables
    flattened as (kernel row-major, bias), i.e. index (feature i, class c) -> i * C + c."""
    x = np.concatenate([b[0] for b in batches])
    p = _softmax(x @ kernel + bias)
    x1 = np.concatenate([x, np.ones((len(x), 1))], axis=1)
    return np.mean(
        [np.kron(np.outer(xi, xi), np.diag(pi) - np.outer(pi, pi)) for xi, pi in zip(x1, p)],
        axis=0,
    )


def test_logistic_regression_hessian_is_exact(float64):
    rng = np.random.default_rng(0)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])
    model.compile(loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.set_weights([rng.normal(size=(4, 3)), rng.normal(size=3)])
    batches = _batches(rng, 4, 3, [7, 7, 3])  # a short last batch: weighted per example
    hessian = _logistic_hessian(*model.get_weights(), batches)
    product = HessianVectorProduct(BatchLoss(model, batches))
    for _ in range(3):
        v = rng.normal(size=15)
        np.testing.assert_allclose(product(v).numpy(), hessian @ v, rtol=1e-10, atol=1e-12)
    top = top_hessian_eigenvalue(model, batches, iterations=2000, tolerance=1e-9)
    assert top.converged
    assert top.eigenvalue == pytest.approx(np.linalg.eigvalsh(hessian).max(), rel=1e-4)
    # The returned vector is a unit eigenvector: its Rayleigh quotient is the eigenvalue.
    assert np.linalg.norm(top.vector) == pytest.approx(1.0)
    assert top.vector @ hessian @ top.vector == pytest.approx(top.eigenvalue, rel=1e-4)


def test_hidden_layer_hessian_matches_finite_differences(float64):
    rng = np.random.default_rng(1)
    model = keras.Sequential(
        [keras.Input((3,)), keras.layers.Dense(4, activation="tanh"), keras.layers.Dense(2)]
    )
    model.compile(loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    weights = [w * 1.5 for w in model.get_weights()]
    model.set_weights(weights)
    batches = _batches(rng, 3, 2, [6, 6])
    x = np.concatenate([b[0] for b in batches])
    y = np.concatenate([b[1] for b in batches])
    shapes = [w.shape for w in weights]
    sizes = [w.size for w in weights]

    def numpy_loss(flat):  # an independent forward pass: cross-entropy of a tanh MLP
        k1, b1, k2, b2 = (
            part.reshape(shape)
            for part, shape in zip(np.split(flat, np.cumsum(sizes)[:-1]), shapes)
        )
        p = _softmax(np.tanh(x @ k1 + b1) @ k2 + b2)
        return -np.mean(np.log(p[np.arange(len(y)), y]))

    flat = np.concatenate([w.ravel() for w in weights])
    n, h = flat.size, 1e-4
    hessian = np.zeros((n, n))
    for i in range(n):  # central differences of central-difference gradients
        for j in range(i, n):
            ei, ej = np.eye(n)[i] * h, np.eye(n)[j] * h
            hessian[i, j] = hessian[j, i] = (
                numpy_loss(flat + ei + ej)
                - numpy_loss(flat + ei - ej)
                - numpy_loss(flat - ei + ej)
                + numpy_loss(flat - ei - ej)
            ) / (4 * h * h)
    product = HessianVectorProduct(BatchLoss(model, batches))
    v = rng.normal(size=n)
    np.testing.assert_allclose(product(v).numpy(), hessian @ v, rtol=1e-5, atol=1e-6)
    eigenvalues = np.linalg.eigvalsh(hessian)
    top = top_hessian_eigenvalue(model, batches, iterations=3000, tolerance=1e-10)
    largest = eigenvalues[np.argmax(np.abs(eigenvalues))]  # power iteration: largest magnitude
    assert top.eigenvalue == pytest.approx(largest, rel=1e-4)
