"""Metrics of language models beyond Keras's own: bits per byte.

A byte-level language model's cross-entropy in bits, ``loss / ln 2`` for the loss in
nats, is its compression rate: the bits per byte an arithmetic coder driven by the
model would spend on the text (Graves 2013 reports character models so). It is the
mean over every predicted byte: each window contributes its mean over positions,
weighted by the window (all windows have the same length), so the mean over batches
of any size is the mean over tokens.

References:
    Graves, "Generating Sequences With Recurrent Neural Networks", arXiv:1308.0850, 2013.

Example:
    >>> metric = BitsPerByte()
    >>> metric.update_state(np.array([[0, 1]]), np.zeros((1, 2, 256), "float32"))
    >>> round(float(metric.result()), 4)  # a uniform prediction: 8 bits per byte
    8.0
"""

from __future__ import annotations

import math
from typing import Any

import keras

__all__ = ["BitsPerByte", "bits_per_byte"]


@keras.saving.register_keras_serializable(package="lbkeras")
def bits_per_byte(y_true: Any, y_pred: Any) -> Any:
    """Per-position cross-entropy in bits of logits ``y_pred`` for byte ids ``y_true``."""
    nats = keras.losses.sparse_categorical_crossentropy(y_true, y_pred, from_logits=True)
    return nats / math.log(2.0)


@keras.saving.register_keras_serializable(package="lbkeras")
class BitsPerByte(keras.metrics.MeanMetricWrapper):
    """The mean cross-entropy in bits per predicted byte, from logits and byte ids.

    Args:
        name: the metric's name (logged as ``bits_per_byte``).
        dtype: the metric's dtype.
    """

    def __init__(self, name: str = "bits_per_byte", dtype: Any = None) -> None:
        super().__init__(bits_per_byte, name=name, dtype=dtype)

    def get_config(self) -> dict[str, Any]:
        return {"name": self.name, "dtype": self.dtype}
