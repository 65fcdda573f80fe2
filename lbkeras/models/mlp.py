"""A multi-layer perceptron on flattened inputs: the simplest baseline for a scaling study.

Example:
    >>> model = mlp(input_shape=(28, 28, 1), num_classes=10, hidden_units=(512,), dropout=0.1)
    >>> model.output.shape
    (None, 10)
"""

from __future__ import annotations

from collections.abc import Sequence

import keras

from lbkeras.checks import check_fraction, check_int
from lbkeras.models.common import check_arguments, check_bool, check_momentum, logits


def mlp(
    *,
    input_shape: Sequence[int],
    num_classes: int,
    hidden_units: Sequence[int] = (256, 256),
    activation: str = "relu",
    batch_norm: bool = False,
    dropout: float = 0.0,
    bn_momentum: float = 0.9,
) -> keras.Model:
    """Flatten, then ``Dense -> [BatchNormalization] -> activation -> [Dropout]`` per layer, logits.

    With ``batch_norm`` the hidden ``Dense`` layers have no bias (batch norm's beta
    takes its place).

    Args:
        input_shape: any shape; it is flattened.
        num_classes: number of logits.
        hidden_units: width of each hidden layer; empty gives a linear classifier.
        activation: a Keras activation name (``"relu"``, ``"gelu"``, ``"tanh"``...).
        batch_norm: add batch normalisation before each activation.
        dropout: dropout rate after each activation, in ``[0, 1)``.
        bn_momentum: batch-norm momentum (used with ``batch_norm``).

    Returns:
        A functional ``keras.Model`` named ``"mlp"`` that outputs logits.

    Raises:
        ValueError: a bad shape, width, activation, dropout rate or momentum.
        TypeError: a ``batch_norm`` that is not a bool, a width that is not an int.
    """
    input_shape, num_classes = check_arguments("mlp", input_shape, num_classes)
    hidden_units = [check_int("hidden_units", units, positive=True) for units in hidden_units]
    keras.activations.get(activation)  # raises ValueError for an unknown name
    check_bool("batch_norm", batch_norm)
    dropout = check_fraction("dropout", dropout)
    bn_momentum = check_momentum(bn_momentum)

    inputs = keras.Input(input_shape)
    h = keras.layers.Flatten()(inputs)
    for units in hidden_units:
        h = keras.layers.Dense(units, use_bias=not batch_norm)(h)
        if batch_norm:
            h = keras.layers.BatchNormalization(momentum=bn_momentum)(h)
        h = keras.layers.Activation(activation)(h)
        if dropout:
            h = keras.layers.Dropout(dropout)(h)
    return keras.Model(inputs, logits(h, num_classes), name="mlp")
