"""Keskar et al.'s epsilon-sharpness of a trained model's minimum, and both sharpness measures.

The epsilon-sharpness of the loss ``L`` at weights ``w`` (Keskar et al. 2017, metric 2.1,
over the full weight space) is the largest relative rise of the loss in a small box::

    max over |d_i| <= epsilon (|w_i| + 1) of  (L(w + d) - L(w)) / (1 + L(w)) x 100

``L`` is the loss of a :class:`~lbkeras.analysis.loss.BatchLoss` (inference mode, fixed
batches, no regularisation losses), ``w`` the trainable variables. Keskar et al. solve the
inner maximisation with L-BFGS-B (SciPy) on the box. Here it is projected ascent in
TensorFlow instead, which needs no host copy of the weights per step, no SciPy and no
second optimiser state the size of the model: each step moves to the vertex of the box
that maximises the loss's linearisation, ``d <- clip(d + r * sign(grad L(w + d)), -r, r)``
with ``r_i = epsilon (|w_i| + 1)`` (for a convex loss, such as a quadratic near a minimum,
no step lowers the loss; a step that lands where it started ends the ascent). It starts
from ``d = 0`` (the gradient's vertex), from the sign vertex of the top eigenvector of
``R H R`` (``R = diag(r)``, power iteration on Hessian-vector products: the sharpest
direction in box units, turned to climb along the gradient), and from ``restarts`` random
vertices; the best point found counts.

Like L-BFGS-B, this is a local method: the result is a LOWER BOUND of the true maximum.
Maximising even a convex quadratic over a box is NP-hard, and the ascent can stop at a
vertex that is a local maximum only (on random least-squares problems of 2 to 10
weights at their minimum, about one in six starts short of 95% of the exact maximum).
More ``restarts`` raise the bound; none can exceed the maximum, since every point
evaluated lies in the box.

References:
    Keskar, Mudigere, Nocedal, Smelyanskiy and Tang, "On Large-Batch Training for Deep
    Learning: Generalization Gap and Sharp Minima", ICLR 2017, https://arxiv.org/abs/1609.04836

Example:
    >>> model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1, use_bias=False)])
    >>> model.compile(loss="mean_squared_error")
    >>> model.set_weights([np.zeros((2, 1))])
    >>> batches = [(np.eye(2, dtype="float32"), np.zeros((2, 1), "float32"))]
    >>> found = epsilon_sharpness(model, batches, epsilon=0.1)  # L(d) = |d|^2 / 2 at a minimum
    >>> round(found.max_loss, 6), round(found.sharpness, 4)  # the vertex (0.1, 0.1)
    (0.01, 1.0)
    >>> model.get_weights()[0].ravel().tolist()  # restored
    [0.0, 0.0]
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from lbkeras.analysis.hessian import HessianVectorProduct, power_iteration, top_hessian_eigenvalue
from lbkeras.analysis.loss import BatchLoss, LossFn
from lbkeras.checks import check_float, check_int

__all__ = ["EpsilonSharpness", "epsilon_sharpness", "measure_sharpness"]


@dataclasses.dataclass(frozen=True)
class EpsilonSharpness:
    """The result of :func:`epsilon_sharpness`.

    Attributes:
        sharpness: ``(max_loss - loss) / (1 + loss) x 100`` (a lower bound of the true one).
        loss: ``L(w)``.
        max_loss: the largest ``L(w + d)`` found in the box.
        epsilon: the box's relative size.
        evaluations: the loss gradients computed by the ascent.
        perturbation: the ``d`` of ``max_loss`` (flat, in ``BatchLoss.flatten`` order).
    """

    sharpness: float
    loss: float
    max_loss: float
    epsilon: float
    evaluations: int
    perturbation: np.ndarray


def epsilon_sharpness(
    model: keras.Model,
    batches: Sequence[tuple[Any, Any]],
    epsilon: float = 1e-3,
    loss: LossFn | str | None = None,
    steps: int = 20,
    restarts: int = 0,
    spectral_iterations: int = 20,
    seed: int = 0,
) -> EpsilonSharpness:
    """Keskar et al.'s epsilon-sharpness of ``model`` over ``batches`` (module docstring).

    The trainable weights are perturbed during the ascent and restored exactly (bit for
    bit) afterwards, also when it raises.

    Args:
        model: a built Keras model, at the minimum to measure.
        batches: a fixed list of ``(features, labels)`` batches.
        epsilon: the box's relative size (Keskar et al.: 1e-3 and 5e-4).
        loss: default: the model's compiled loss.
        steps: most ascent steps from each start.
        restarts: random vertices to start from, besides ``d = 0`` and the spectral one.
        spectral_iterations: power iterations for the spectral start; 0: no spectral start.
        seed: of the random vertices and the power iteration's start.
    """
    check_float("epsilon", epsilon, positive=True)
    check_int("steps", steps, positive=True)
    check_int("restarts", restarts)
    check_int("spectral_iterations", spectral_iterations)
    batch_loss = BatchLoss(model, batches, loss)
    saved = batch_loss.get_weights()
    try:
        weights = batch_loss.flat_weights()
        radius = epsilon * (tf.abs(weights) + 1)
        base, gradient = batch_loss.value_and_gradient()
        starts = [tf.zeros_like(weights)]
        if spectral_iterations:
            starts.append(_spectral_vertex(batch_loss, radius, gradient, spectral_iterations, seed))
        rng = np.random.default_rng(seed)
        for _ in range(restarts):
            signs = rng.choice([-1.0, 1.0], size=batch_loss.size)
            starts.append(radius * tf.constant(signs, batch_loss.dtype))
        best, best_d, evaluations = base, starts[0], 0
        for start in starts:
            value, d, used = _ascend(batch_loss, weights, radius, start, steps)
            evaluations += used
            if value > best:
                best, best_d = value, d
    finally:
        batch_loss.set_weights(saved)
    return EpsilonSharpness(
        sharpness=(best - base) / (1 + base) * 100,
        loss=base,
        max_loss=best,
        epsilon=epsilon,
        evaluations=evaluations,
        perturbation=best_d.numpy(),
    )


def measure_sharpness(
    model: keras.Model,
    batches: Sequence[tuple[Any, Any]],
    epsilon: float = 1e-3,
    loss: LossFn | str | None = None,
    ascent_steps: int = 20,
    restarts: int = 0,
    power_iterations: int = 100,
    tolerance: float = 1e-4,
    seed: int = 0,
) -> dict[str, Any]:
    """Both sharpness measures of ``model`` over ``batches``, as one JSON-ready dict.

    Keys: ``loss`` (``L(w)``), ``top_hessian_eigenvalue`` with
    ``eigenvalue_iterations`` and ``eigenvalue_converged``
    (:func:`~lbkeras.analysis.hessian.top_hessian_eigenvalue`), ``epsilon_sharpness``
    with ``epsilon`` and ``max_loss`` (:func:`epsilon_sharpness`), ``num_batches`` and
    ``num_examples``. The weights are left as they were.
    """
    top = top_hessian_eigenvalue(model, batches, loss, power_iterations, tolerance, seed)
    found = epsilon_sharpness(model, batches, epsilon, loss, ascent_steps, restarts, seed=seed)
    return {
        "loss": found.loss,
        "top_hessian_eigenvalue": top.eigenvalue,
        "eigenvalue_iterations": top.iterations,
        "eigenvalue_converged": top.converged,
        "epsilon_sharpness": found.sharpness,
        "epsilon": epsilon,
        "max_loss": found.max_loss,
        "num_batches": len(batches),
        "num_examples": sum(int(np.shape(x)[0]) for x, _ in batches),
    }


def _ascend(
    batch_loss: BatchLoss, weights: tf.Tensor, radius: tf.Tensor, d: tf.Tensor, steps: int
) -> tuple[float, tf.Tensor, int]:
    """Projected sign ascent from ``d``: the best loss found, its ``d``, the gradients used."""
    best, best_d = -np.inf, d
    for step in range(1, steps + 1):
        batch_loss.set_flat(weights + d)
        value, gradient = batch_loss.value_and_gradient()
        if value > best:
            best, best_d = value, d
        moved = tf.clip_by_value(d + radius * tf.sign(gradient), -radius, radius)
        if bool(tf.reduce_all(moved == d)):
            return best, best_d, step
        d = moved
    batch_loss.set_flat(weights + d)
    value = batch_loss.value()
    return (value, d, steps) if value > best else (best, best_d, steps)


def _spectral_vertex(
    batch_loss: BatchLoss, radius: tf.Tensor, gradient: tf.Tensor, iterations: int, seed: int
) -> tf.Tensor:
    """``r * sign(u)`` for the top eigenvector ``u`` of ``R H R``, turned up the gradient."""
    product = HessianVectorProduct(batch_loss)
    top = power_iteration(
        lambda v: radius * product(radius * v),
        batch_loss.size,
        iterations,
        tolerance=1e-3,
        seed=seed,
        dtype=batch_loss.dtype,
    )
    signs = tf.where(tf.constant(top.vector) >= 0, 1.0, -1.0)
    signs = tf.cast(signs, batch_loss.dtype)
    if float(tf.tensordot(gradient, radius * signs, 1)) < 0:
        signs = -signs
    return radius * signs
