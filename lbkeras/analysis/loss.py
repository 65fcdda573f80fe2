"""The training loss of a Keras model over a fixed list of batches, as a function of its weights.

What the sharpness measures of :mod:`lbkeras.analysis` (Keskar et al. 2017) differentiate
and perturb: ``L(w)``, the mean loss per example over every example of ``batches`` (each
batch's loss weighted by its size, so a short last batch counts as much per example as
the others), with the model in inference mode (``training=False``): batch normalisation
uses its moving statistics and dropout is off, so that ``L`` is one deterministic function
of the trainable weights. The loss is the model's compiled one (``model.loss``) or the
one given; regularisation losses (``model.losses``) are left out, as is the weight decay
of the optimizer: it is the data term of the minimum that is measured.

Vectors in weight space are flat: the trainable variables of the model, in the order of
``model.trainable_variables``, each flattened row-major and concatenated
(:meth:`BatchLoss.flatten`, :meth:`BatchLoss.unflatten`).

References:
    Keskar, Mudigere, Nocedal, Smelyanskiy and Tang, "On Large-Batch Training for Deep
    Learning: Generalization Gap and Sharp Minima", ICLR 2017, https://arxiv.org/abs/1609.04836

Example:
    >>> model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    >>> model.compile(loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    >>> batches = [(np.ones((4, 3), "float32"), np.array([0, 1, 0, 1]))]
    >>> loss = BatchLoss(model, batches)
    >>> value, gradient = loss.value_and_gradient()
    >>> loss.num_examples, gradient.shape == (loss.size,), bool(np.isfinite(value))
    (4, True, True)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import keras
import numpy as np
import tensorflow as tf

__all__ = ["BatchLoss", "LossFn", "resolve_loss"]

#: A loss ``loss(y_true, y_pred) -> scalar``: a ``keras.losses.Loss`` or a function.
LossFn = Callable[[Any, Any], Any]


def resolve_loss(model: keras.Model, loss: LossFn | str | None = None) -> LossFn:
    """``loss`` (a Loss, a function or a Keras loss name), or the model's compiled loss.

    Raises:
        ValueError: no loss given and the model was not compiled with a single loss.
    """
    if loss is None:
        loss = getattr(model, "loss", None)
        if loss is None:
            raise ValueError("the model has no compiled loss: compile it, or pass loss=")
        if isinstance(loss, (dict, list, tuple)):
            raise ValueError("the model has several losses (one per output): pass loss=")
    return keras.losses.get(loss) if isinstance(loss, str) else loss


class BatchLoss:
    """``L(w)``: the loss of ``model`` over ``batches`` (see the module docstring).

    Args:
        model: a built Keras model; its trainable variables are the weights ``w``.
        batches: ``(features, labels)`` pairs (arrays or tensors), labels in the form the
            loss takes (class ids for a sparse cross-entropy, one-hot for a categorical).
        loss: the loss; default: the model's compiled loss.
    """

    def __init__(
        self,
        model: keras.Model,
        batches: Sequence[tuple[Any, Any]],
        loss: LossFn | str | None = None,
    ) -> None:
        if not batches:
            raise ValueError("batches is empty: give at least one (features, labels) batch")
        self.model = model
        self.loss = resolve_loss(model, loss)
        self.variables = list(model.trainable_variables)
        if not self.variables:
            raise ValueError("the model has no trainable variables")
        self.batches = [(tf.convert_to_tensor(x), tf.convert_to_tensor(y)) for x, y in batches]
        sizes = [int(x.shape[0]) for x, _ in self.batches]
        self.num_examples = sum(sizes)
        self.weights = [size / self.num_examples for size in sizes]
        self.shapes = [tuple(v.shape) for v in self.variables]
        self.sizes = [int(np.prod(shape)) for shape in self.shapes]
        self.size = sum(self.sizes)
        self.dtype = tf.as_dtype(self.variables[0].dtype)
        self._value = tf.function(self.batch_value, reduce_retracing=True)
        self._value_and_gradient = tf.function(
            self._batch_value_and_gradient, reduce_retracing=True
        )

    def batch_value(self, x: tf.Tensor, y: tf.Tensor) -> tf.Tensor:
        """The loss of one batch at the current weights, in inference mode (traceable).

        A loss function that returns one value per example is averaged over them."""
        value = self.loss(y, self.model(x, training=False))
        return tf.reduce_mean(tf.cast(value, self.dtype))

    def value(self) -> float:
        """``L(w)`` at the current weights."""
        return float(sum(w * self._value(x, y).numpy() for (x, y), w in self._pairs()))

    def value_and_gradient(self) -> tuple[float, tf.Tensor]:
        """``L(w)`` and its gradient (a flat vector) at the current weights."""
        value, gradient = 0.0, tf.zeros([self.size], self.dtype)
        for (x, y), weight in self._pairs():
            batch_value, batch_gradient = self._value_and_gradient(x, y)
            value += weight * float(batch_value)
            gradient += weight * batch_gradient
        return value, gradient

    def get_weights(self) -> list[np.ndarray]:
        """Copies of the trainable weights (for an exact restore with :meth:`set_weights`)."""
        return [np.array(v.numpy(), copy=True) for v in self.variables]

    def set_weights(self, values: Sequence[Any]) -> None:
        for variable, value in zip(self.variables, values):
            variable.assign(value)

    def set_flat(self, vector: tf.Tensor) -> None:
        """Sets the trainable weights to a flat vector."""
        self.set_weights(self.unflatten(vector))

    def flat_weights(self) -> tf.Tensor:
        return self.flatten([v.value for v in self.variables])

    def flatten(self, tensors: Sequence[Any]) -> tf.Tensor:
        """One flat vector of tensors shaped like the trainable variables."""
        return tf.concat([tf.reshape(tf.cast(t, self.dtype), [-1]) for t in tensors], axis=0)

    def unflatten(self, vector: tf.Tensor) -> list[tf.Tensor]:
        """A flat vector as tensors shaped like the trainable variables."""
        parts = tf.split(tf.convert_to_tensor(vector, self.dtype), self.sizes)
        return [tf.reshape(part, shape) for part, shape in zip(parts, self.shapes)]

    def _pairs(self):
        return zip(self.batches, self.weights)

    def _batch_value_and_gradient(self, x: tf.Tensor, y: tf.Tensor):
        with tf.GradientTape() as tape:
            value = self.batch_value(x, y)
        gradient = tape.gradient(
            value, self.variables, unconnected_gradients=tf.UnconnectedGradients.ZERO
        )
        return value, self.flatten(gradient)
