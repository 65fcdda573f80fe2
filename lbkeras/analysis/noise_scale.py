"""The gradient noise scale computed exactly, from every training example's own gradient.

What the estimators of :mod:`lbkeras.monitoring.gradient_statistics` approximate from two
batch sizes during training, computed here at one point of weight space from all of
them, for a model small enough (no batch norm: a per-example gradient must be defined):

* ``B_simple = tr(Σ) / |G|²`` (McCandlish et al. 2018, eq. 2.8): ``G`` the mean
  gradient over the ``n`` training examples, ``Σ`` their covariance (unbiased,
  ``n - 1``); :func:`exact_b_simple`;
* ``B_noise = tr(H Σ) / (Gᵀ H G)`` (their eq. 2.7, the critical batch of their model
  of SGD, with the Hessian ``H`` of the mean training loss): :func:`exact_b_noise`, with
  :func:`dense_hessian` built column by column from the Hessian-vector products of
  :mod:`lbkeras.analysis.hessian`, so only for models of a few thousand parameters.

Keras and TensorFlow give batch gradients only; per-example gradients are one
``tf.vectorized_map`` over one-example gradients (:func:`per_example_gradients`). The
loss is the model's compiled one in inference mode (``training=False``), as for
:class:`~lbkeras.analysis.loss.BatchLoss`; regularisation and weight decay are left out.
Sums are float64 and streamed, so :func:`exact_b_simple` fits any data set in memory.

Why: the branched critical batch (:mod:`lbkeras.tuning.critical_batch`) and the
running estimates both need a reference that is exact at a known point; on a linear
model this is it (``benchmarks/critical_batch_known.py``).

References:
    McCandlish, Kaplan, Amodei et al., "An Empirical Model of Large-Batch Training",
    arXiv 1812.06162, 2018.

Example:
    >>> model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1, use_bias=False)])
    >>> model.compile(loss="mean_squared_error")
    >>> x = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]], "float32")
    >>> y = np.array([[1.0], [0.0], [0.0]], "float32")
    >>> _ = model.layers[0].kernel.assign(np.zeros((2, 1)))
    >>> grads = np.concatenate(list(per_example_gradients(model, x, y)))  # 2 (w.x - y) x
    >>> grads.tolist()
    [[-2.0, 0.0], [0.0, 0.0], [0.0, 0.0]]
    >>> round(exact_b_simple([grads]), 6)  # tr(Σ) = 4/3 (n-1 = 2), |G|² = 4/9
    3.0
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from lbkeras.analysis.hessian import HessianVectorProduct
from lbkeras.analysis.loss import BatchLoss, LossFn, resolve_loss

__all__ = ["dense_hessian", "exact_b_noise", "exact_b_simple", "per_example_gradients"]


def per_example_gradients(
    model: keras.Model, x: Any, y: Any, batch_size: int = 500, loss: LossFn | str | None = None
) -> Iterator[np.ndarray]:
    """Every example's gradient of its loss, flattened in the order of
    ``model.trainable_variables``: ``(examples, parameters)`` float64 arrays,
    ``batch_size`` examples at a time (the last one shorter)."""
    loss_fn = resolve_loss(model, loss)
    variables = model.trainable_variables

    def one(example):
        inputs, label = example
        with tf.GradientTape() as tape:
            value = loss_fn(label[None], model(inputs[None], training=False))
        return [tf.reshape(g, [-1]) for g in tape.gradient(value, variables)]

    for start in range(0, len(x), batch_size):
        stop = start + batch_size
        grads = tf.vectorized_map(one, (tf.constant(x[start:stop]), tf.constant(y[start:stop])))
        yield np.concatenate([g.numpy() for g in grads], axis=1).astype(np.float64)


def exact_b_simple(gradients: Iterable[np.ndarray]) -> float:
    """``B_simple = tr(Σ) / |G|²`` from per-example gradients (:func:`per_example_gradients`),
    summed as they come; ``Σ`` unbiased.

    Raises:
        ValueError: fewer than 2 examples.
    """
    total, squares, n = 0.0, 0.0, 0
    for grads in gradients:
        total = total + grads.sum(axis=0)
        squares += float(np.sum(grads * grads))
        n += len(grads)
    if n < 2:
        raise ValueError(f"B_simple needs 2 or more examples' gradients, not {n}")
    g2 = float(np.sum((total / n) ** 2))
    return n / (n - 1) * (squares / n - g2) / g2


def dense_hessian(
    model: keras.Model, x: Any, y: Any, loss: LossFn | str | None = None
) -> np.ndarray:
    """The Hessian of the mean loss over ``(x, y)``, ``(parameters, parameters)`` float64:
    one Hessian-vector product per parameter (so for small models only)."""
    product = HessianVectorProduct(BatchLoss(model, [(x, y)], loss))
    size = product.loss.size
    columns = [product(np.eye(1, size, i, dtype="float32")[0]).numpy() for i in range(size)]
    return np.stack(columns, axis=1).astype(np.float64)


def exact_b_noise(gradients: np.ndarray, hessian: np.ndarray) -> float:
    """``B_noise = tr(H Σ) / (Gᵀ H G)`` from all per-example gradients
    ``(examples, parameters)`` and the Hessian (:func:`dense_hessian`)."""
    mean = gradients.mean(axis=0)
    centred = gradients - mean
    sigma = centred.T @ centred / (len(gradients) - 1)
    return float(np.sum(hessian * sigma) / (mean @ hessian @ mean))
