"""The small 1-D CNN for MNIST-1D that the LARS example trains at batch 2048.

References:
    Greydanus, "Scaling down Deep Learning" (MNIST-1D), arXiv:2011.14439, 2020.

Example:
    >>> model = mnist1d_cnn(input_shape=(40,), num_classes=10)
    >>> model.output.shape
    (None, 10)
"""

from __future__ import annotations

from collections.abc import Sequence

import keras

from lbkeras.checks import check_int
from lbkeras.models.common import check_arguments, check_momentum, logits


def mnist1d_cnn(
    *,
    input_shape: Sequence[int],
    num_classes: int,
    filters: Sequence[int] = (32, 32, 64, 64),
    strides: Sequence[int] = (1, 2, 1, 2),
    bn_momentum: float = 0.9,
) -> keras.Model:
    """Conv1D(kernel 5, no bias) -> BatchNormalization -> ReLU per layer, average pool, logits.

    A signal of shape ``(length,)`` is reshaped to ``(length, 1)``; one of shape
    ``(length, channels)`` is used as it is.

    Args:
        input_shape: ``(40,)`` for MNIST-1D, or ``(length, channels)``.
        num_classes: number of logits.
        filters: filters of each convolution.
        strides: stride of each convolution, one per entry of ``filters``.
        bn_momentum: batch-norm momentum. 0.9 rather than Keras's 0.99: with few,
            large steps the moving statistics must follow the weights quickly.

    Returns:
        A functional ``keras.Model`` named ``"mnist1d_cnn"`` that outputs logits.

    Raises:
        ValueError: a bad shape, filter list, stride list or momentum.
    """
    input_shape, num_classes = check_arguments("mnist1d_cnn", input_shape, num_classes, (1, 2))
    filters = [check_int("filters", f, positive=True) for f in filters]
    strides = [check_int("strides", s, positive=True) for s in strides]
    if not filters or len(filters) != len(strides):
        raise ValueError(
            f"mnist1d_cnn: filters and strides need one entry per convolution, "
            f"got filters={filters} and strides={strides}"
        )
    bn_momentum = check_momentum(bn_momentum)

    inputs = keras.Input(input_shape)
    h = keras.layers.Reshape((*input_shape, 1))(inputs) if len(input_shape) == 1 else inputs
    for width, stride in zip(filters, strides):
        h = keras.layers.Conv1D(width, 5, strides=stride, padding="same", use_bias=False)(h)
        h = keras.layers.BatchNormalization(momentum=bn_momentum)(h)
        h = keras.layers.Activation("relu")(h)
    h = keras.layers.GlobalAveragePooling1D()(h)
    return keras.Model(inputs, logits(h, num_classes), name="mnist1d_cnn")
