"""Hessian-vector products of a model's training loss, and its top eigenvalue by power iteration.

The Hessian ``H`` of ``L(w)`` (the loss of a :class:`~lbkeras.analysis.loss.BatchLoss`: the
model in inference mode, ``training=False``, so batch normalisation uses its moving
statistics and dropout is off; the compiled or given loss, averaged per example over the
fixed batches; regularisation losses left out) is never formed: ``H v`` is the directional
derivative of the gradient along ``v``, forward mode over reverse mode
(``tf.autodiff.ForwardAccumulator`` around a ``tf.GradientTape`` gradient), one traced
``tf.function`` per batch shape. It costs about what two or three gradients do.

The largest eigenvalue of ``H`` is the curvature of the sharpest direction at a minimum,
the second measure of sharpness after Keskar et al.'s epsilon-sharpness
(:mod:`lbkeras.analysis.sharpness`). Power iteration finds the eigenvalue of largest
MAGNITUDE: at a minimum ``H`` is nearly positive semi-definite and that is the largest
one, but where a negative eigenvalue is larger in magnitude it is the one returned (its
sign says so), and two of equal magnitude and opposite signs never converge.

References:
    Keskar et al., "On Large-Batch Training for Deep Learning: Generalization Gap and
    Sharp Minima", ICLR 2017, https://arxiv.org/abs/1609.04836
    Pearlmutter, "Fast Exact Multiplication by the Hessian", Neural Computation 1994.
    Yao, Gholami, Keutzer and Mahoney, "PyHessian: Neural Networks Through the Lens of
    the Hessian", 2020, https://arxiv.org/abs/1912.07145 (power iteration on HVPs).

Example:
    >>> model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1, use_bias=False)])
    >>> model.compile(loss="mean_squared_error")
    >>> x = np.array([[1.0, 0.0], [0.0, 2.0]], "float32")  # H = 2 X^T X / 2 = diag(1, 4)
    >>> top = top_hessian_eigenvalue(model, [(x, np.zeros((2, 1), "float32"))])
    >>> round(top.eigenvalue, 4), top.converged
    (4.0, True)
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from lbkeras.analysis.loss import BatchLoss, LossFn

__all__ = ["HessianVectorProduct", "TopEigenvalue", "power_iteration", "top_hessian_eigenvalue"]


class HessianVectorProduct:
    """``v -> H v`` for the Hessian of ``loss`` (a :class:`BatchLoss`) at the current weights.

    ``v`` and ``H v`` are flat vectors in the order of ``BatchLoss.flatten``. The weights
    are read at each call: change them and the product is the Hessian's at the new point.
    """

    def __init__(self, loss: BatchLoss) -> None:
        self.loss = loss
        self._product = tf.function(self._batch_product, reduce_retracing=True)

    def __call__(self, vector: Any) -> tf.Tensor:
        vector = tf.convert_to_tensor(vector, self.loss.dtype)
        product = tf.zeros([self.loss.size], self.loss.dtype)
        for (x, y), weight in zip(self.loss.batches, self.loss.weights):
            product += weight * self._product(x, y, vector)
        return product

    def _batch_product(self, x: tf.Tensor, y: tf.Tensor, vector: tf.Tensor) -> tf.Tensor:
        # The tf.Variables themselves: the accumulator needs their dtype objects.
        variables = [v.value for v in self.loss.variables]
        zero = tf.UnconnectedGradients.ZERO
        with tf.autodiff.ForwardAccumulator(variables, self.loss.unflatten(vector)) as acc:
            with tf.GradientTape() as tape:
                value = self.loss.batch_value(x, y)
            gradient = tape.gradient(value, variables, unconnected_gradients=zero)
        return self.loss.flatten(acc.jvp(gradient, unconnected_gradients=zero))


@dataclasses.dataclass(frozen=True)
class TopEigenvalue:
    """The result of :func:`power_iteration`.

    Attributes:
        eigenvalue: the estimate of the eigenvalue of largest magnitude (the Rayleigh
            quotient ``v^T A v`` of the last unit vector ``v`` iterated from).
        iterations: the products computed.
        converged: whether two successive estimates agreed within the tolerance.
        vector: the unit vector of the last product, ``A v / |A v|``: the estimated
            eigenvector (flat, NumPy).
    """

    eigenvalue: float
    iterations: int
    converged: bool
    vector: np.ndarray


def power_iteration(
    operator: Callable[[tf.Tensor], tf.Tensor],
    size: int,
    iterations: int = 100,
    tolerance: float = 1e-4,
    seed: int = 0,
    dtype: tf.DType = tf.float32,
) -> TopEigenvalue:
    """The eigenvalue of largest magnitude of a symmetric linear ``operator`` on ``R^size``.

    Starts from a unit vector of Gaussian entries (from ``seed``); each iteration computes
    ``A v``, the estimate ``v^T A v``, and ``v <- A v / |A v|``. It stops when two successive
    estimates differ by at most ``tolerance`` times the latest (converged) or after
    ``iterations`` products. ``A v = 0`` (a zero operator) gives eigenvalue 0, converged.
    """
    if iterations < 1:
        raise ValueError(f"iterations must be >= 1, got {iterations}")
    if not tolerance > 0:
        raise ValueError(f"tolerance must be > 0, got {tolerance}")
    start = np.random.default_rng(seed).standard_normal(size)
    vector = tf.constant(start / np.linalg.norm(start), dtype)
    previous = None
    for iteration in range(1, iterations + 1):
        product = operator(vector)
        estimate = float(tf.tensordot(vector, product, 1))
        norm = float(tf.norm(product))
        if norm == 0.0:
            return TopEigenvalue(0.0, iteration, True, vector.numpy())
        vector = product / norm
        if previous is not None and abs(estimate - previous) <= tolerance * abs(estimate):
            return TopEigenvalue(estimate, iteration, True, vector.numpy())
        previous = estimate
    return TopEigenvalue(estimate, iterations, False, vector.numpy())


def top_hessian_eigenvalue(
    model: keras.Model,
    batches: Sequence[tuple[Any, Any]],
    loss: LossFn | str | None = None,
    iterations: int = 100,
    tolerance: float = 1e-4,
    seed: int = 0,
) -> TopEigenvalue:
    """The Hessian eigenvalue of largest magnitude of ``model``'s loss over ``batches``.

    Power iteration (:func:`power_iteration`) on :class:`HessianVectorProduct` at the
    model's current weights, which are not changed.

    Args:
        model: a built Keras model (its trainable variables are the weights).
        batches: a fixed list of ``(features, labels)`` batches.
        loss: default: the model's compiled loss.
        iterations: most Hessian-vector products.
        tolerance: relative change of the estimate at which it has converged.
        seed: of the starting vector.
    """
    batch_loss = BatchLoss(model, batches, loss)
    product = HessianVectorProduct(batch_loss)
    return power_iteration(
        product, batch_loss.size, iterations, tolerance, seed, dtype=batch_loss.dtype
    )
