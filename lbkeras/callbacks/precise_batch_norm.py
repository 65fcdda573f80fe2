"""Precise batch norm: the moving statistics recomputed at the current weights before an
evaluation (Wu and Johnson 2021, "PreciseBN").

Batch normalisation evaluates with moving averages of the batch statistics, each step's
weighted by ``1 - momentum``. They average statistics of *past* weights: after a few
hundred steps at a small batch the weights barely move within the averaging window and
the averages are fine, but a large-batch run takes few, large steps (MNIST-1D at batch
32768 on 120,000 examples: 4 steps a pass, 110 in all), and the averages describe weights
the model has left. Its training accuracy is then 0.99 while the evaluation sees 0.48
(``README.md``, "Recipes at scale"). :func:`recompute_batch_norm` replaces them with the
population statistics of the current weights: the model runs in training mode over a few
fixed training batches, and each batch-norm layer's moving mean and variance become the
plain average of its batch statistics (the momentum of the ``i``-th batch set to
``i / (i + 1)``, so the layers' own update computes the average; restored afterwards).
:class:`PreciseBatchNorm` does it before every evaluation (``on_test_begin``: inside
``model.fit`` too), and the trainer with ``--precise_bn_examples``.

It works for every ``keras.layers.BatchNormalization`` (ghost batch norm included: its
update averages the ghost batches' statistics); frozen layers (``trainable=False``) and
batch renormalisation are left as they are. Keras has nothing like it (nor had tf.keras);
PyTorch users know it from fvcore/detectron2.

References:
    Wu and Johnson, "Rethinking 'Batch' in BatchNorm", arXiv 2105.07576, 2021.

Example:
    >>> model = keras.Sequential([keras.Input((2,)), keras.layers.BatchNormalization()])
    >>> batches = [np.array([[0.0, 1.0], [2.0, 3.0]], "float32"),
    ...            np.array([[4.0, 5.0], [6.0, 7.0]], "float32")]
    >>> recompute_batch_norm(model, batches)  # layers recomputed
    1
    >>> layer = model.layers[0]
    >>> layer.moving_mean.numpy().tolist(), layer.moving_variance.numpy().tolist()
    ([3.0, 4.0], [1.0, 1.0])
    >>> layer.momentum  # restored
    0.99
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import keras

__all__ = ["PreciseBatchNorm", "batch_norm_layers", "recompute_batch_norm"]


def batch_norm_layers(model: keras.Model) -> list[keras.layers.BatchNormalization]:
    """The batch-norm layers whose statistics :func:`recompute_batch_norm` sets: every
    trainable ``BatchNormalization`` in the model, nested ones too, without renorm."""
    return [
        layer
        for layer in model._flatten_layers(include_self=False, recursive=True)
        if isinstance(layer, keras.layers.BatchNormalization)
        and layer.trainable
        and not layer.renorm
    ]


def recompute_batch_norm(model: keras.Model, batches: Sequence[Any]) -> int:
    """Sets the moving statistics of :func:`batch_norm_layers` to the average of their
    batch statistics over ``batches`` (model inputs), the model in training mode, run
    eagerly; returns how many layers were set (0: nothing to do).

    Raises:
        ValueError: no batches.
    """
    layers = batch_norm_layers(model)
    if not layers:
        return 0
    if not batches:
        raise ValueError("recompute_batch_norm needs one or more batches of training inputs")
    momenta = [layer.momentum for layer in layers]
    try:
        for i, inputs in enumerate(batches):
            for layer in layers:
                layer.momentum = i / (i + 1)  # the i-th batch weighs 1 / (i + 1): a mean
            model(inputs, training=True)
    finally:
        for layer, momentum in zip(layers, momenta):
            layer.momentum = momentum
    return len(layers)


class PreciseBatchNorm(keras.callbacks.Callback):
    """Recomputes the model's batch-norm statistics (:func:`recompute_batch_norm`) from
    ``batches`` before every evaluation.

    Args:
        batches: model inputs: fixed training batches, the same at every evaluation
            (and on every worker, so that replicas keep equal statistics).
    """

    def __init__(self, batches: Sequence[Any]) -> None:
        super().__init__()
        if not batches:
            raise ValueError("PreciseBatchNorm needs one or more batches of training inputs")
        self.batches = list(batches)

    def on_test_begin(self, logs: dict | None = None) -> None:
        recompute_batch_norm(self.model, self.batches)
