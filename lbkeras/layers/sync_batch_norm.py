"""Synchronised batch normalisation for any functional model, and the conversion it shares.

Keras has ``BatchNormalization(synchronized=True)`` (statistics over the global batch,
all replicas and workers, by one all-reduce per layer and step), but only as an
argument of each layer a model builds; lbkeras's models and the user's would each
need an option. :func:`use_sync_batch_norm` converts any functional model instead,
the way :func:`~lbkeras.layers.use_ghost_batch_norm` makes ghost batch norms; both
rest on :func:`replace_batch_norms`.

With synchronised statistics, N replicas or workers with the same global batch train
as one device: batch norm no longer depends on how the batch is split (tested with
two real ``MultiWorkerMirroredStrategy`` workers). The statistics are computed as
E[x^2] - E[x]^2 over the global batch, which differs from one device's two-pass
variance by float rounding only.

Example:
    >>> inputs = keras.Input((8,))
    >>> outputs = keras.layers.BatchNormalization()(keras.layers.Dense(4)(inputs))
    >>> synced = use_sync_batch_norm(keras.Model(inputs, outputs))
    >>> [layer.synchronized for layer in synced.layers
    ...  if isinstance(layer, keras.layers.BatchNormalization)]
    [True]
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import keras


def replace_batch_norms(
    model: keras.Model, make_layer: Callable[[dict[str, Any]], keras.layers.Layer]
) -> keras.Model:
    """A copy of a functional ``model`` whose ``BatchNormalization`` layers are remade.

    ``make_layer`` gets each batch norm's config and returns the layer that replaces
    it; the other layers are cloned as they are. The weights are copied, so the copy
    computes what ``model`` computes at inference.
    """

    def clone(layer: keras.layers.Layer) -> keras.layers.Layer:
        if type(layer) is keras.layers.BatchNormalization:
            return make_layer(layer.get_config())
        return layer.__class__.from_config(layer.get_config())

    converted = keras.models.clone_model(model, clone_function=clone)
    converted.set_weights(model.get_weights())
    return converted


def use_sync_batch_norm(model: keras.Model) -> keras.Model:
    """A copy of a functional ``model`` whose batch norms are synchronised over replicas.

    This is how the trainer's ``--sync_batch_norm`` applies to any registered model.
    Needs the TensorFlow backend (Keras synchronises only there).
    """
    if keras.backend.backend() != "tensorflow":
        raise ValueError("synchronised batch norm needs the TensorFlow backend")
    return replace_batch_norms(
        model, lambda config: keras.layers.BatchNormalization(**{**config, "synchronized": True})
    )
