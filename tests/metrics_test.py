"""Tests for lbkeras.metrics: bits per byte is the mean over every byte, in bits."""

from __future__ import annotations

import math

import keras
import numpy as np

from lbkeras.metrics import BitsPerByte


def test_bits_per_byte_is_the_mean_over_bytes_of_batches_of_any_size():
    rng = np.random.default_rng(0)
    logits = rng.normal(0, 2, (7, 5, 256)).astype("float32")
    labels = rng.integers(0, 256, (7, 5))
    metric = BitsPerByte()
    for batch in (slice(0, 3), slice(3, 4), slice(4, 7)):  # batches of 3, 1 and 3 windows
        metric.update_state(labels[batch], logits[batch])
    z = logits.astype(np.float64)
    log_softmax = z - z.max(-1, keepdims=True)
    log_softmax -= np.log(np.exp(log_softmax).sum(-1, keepdims=True))
    nats = -np.take_along_axis(log_softmax, labels[..., None], -1).mean()
    np.testing.assert_allclose(float(metric.result()), nats / math.log(2), rtol=1e-6)


def test_config_round_trip():
    metric = keras.metrics.deserialize(keras.metrics.serialize(BitsPerByte(name="bpb")))
    assert type(metric) is BitsPerByte and metric.name == "bpb"
