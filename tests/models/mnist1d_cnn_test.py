"""Tests for lbkeras.models.mnist1d_cnn: the CNN of examples/mnist1d_lars.py."""

from __future__ import annotations

import keras
import pytest

from lbkeras.models import mnist1d_cnn
from tests.models.common import assert_logits_model, assert_save_load_round_trip


def _layers_of(model, cls):
    return [layer for layer in model.layers if isinstance(layer, cls)]


def test_architecture_is_the_examples():
    model = mnist1d_cnn(input_shape=(40,), num_classes=10)
    assert_logits_model(model, 10)
    assert model.name == "mnist1d_cnn"
    assert [type(layer).__name__ for layer in model.layers] == [
        "InputLayer",
        "Reshape",
        *["Conv1D", "BatchNormalization", "Activation"] * 4,
        "GlobalAveragePooling1D",
        "Dense",
    ]
    convs = _layers_of(model, keras.layers.Conv1D)
    assert [(c.filters, c.kernel_size, c.strides) for c in convs] == [
        (32, (5,), (1,)),
        (32, (5,), (2,)),
        (64, (5,), (1,)),
        (64, (5,), (2,)),
    ]
    assert all(c.padding == "same" and not c.use_bias for c in convs)
    assert all(bn.momentum == 0.9 for bn in _layers_of(model, keras.layers.BatchNormalization))
    # Conv kernels 5*in*out, batch norm 4 per channel, Dense 64*10 + 10.
    filters = [1, 32, 32, 64, 64]
    expected = sum(5 * a * b + 4 * b for a, b in zip(filters, filters[1:])) + 64 * 10 + 10
    assert model.count_params() == expected == 37_418


def test_options():
    model = mnist1d_cnn(
        input_shape=(24, 2), num_classes=3, filters=(8, 16), strides=(2, 2), bn_momentum=0.5
    )
    assert_logits_model(model, 3)
    assert not _layers_of(model, keras.layers.Reshape)  # (length, channels) is used as given
    assert [c.filters for c in _layers_of(model, keras.layers.Conv1D)] == [8, 16]
    assert model.get_layer(index=-2).input.shape == (None, 6, 16)
    assert all(bn.momentum == 0.5 for bn in _layers_of(model, keras.layers.BatchNormalization))


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"filters": (8, 8), "strides": (1,)}, "one entry per convolution"),
        ({"filters": (), "strides": ()}, "one entry per convolution"),
        ({"filters": (0, 8, 8, 8)}, "filters must be an integer > 0"),
        ({"bn_momentum": 1.0}, r"bn_momentum must be a finite number in \[0, 1\)"),
        ({"input_shape": (40, 1, 1)}, "rank 1 or 2"),
        ({"input_shape": (0,)}, "positive integers"),
        ({"num_classes": 0}, "num_classes"),
    ],
)
def test_bad_arguments(kwargs, message):
    kwargs = {"input_shape": (40,), "num_classes": 10, **kwargs}
    with pytest.raises(ValueError, match=message):
        mnist1d_cnn(**kwargs)


def test_save_load_round_trip(tmp_path):
    model = mnist1d_cnn(input_shape=(40,), num_classes=10)
    assert_save_load_round_trip(model, str(tmp_path / "model.keras"))
