"""Tests for lbkeras.models.mlp."""

from __future__ import annotations

import keras
import pytest

from lbkeras.models import mlp
from tests.models.common import assert_logits_model, assert_save_load_round_trip


def _types(model):
    return [type(layer).__name__ for layer in model.layers]


def test_default_flattens_and_has_two_hidden_layers():
    model = mlp(input_shape=(5, 3), num_classes=10)
    assert_logits_model(model, 10)
    assert _types(model) == [
        "InputLayer",
        "Flatten",
        *["Dense", "Activation"] * 2,
        "Dense",
    ]
    assert model.count_params() == (15 * 256 + 256) + (256 * 256 + 256) + (256 * 10 + 10)


def test_batch_norm_dropout_and_activation():
    model = mlp(
        input_shape=(4,),
        num_classes=2,
        hidden_units=[8, 6],  # a list, as JSON options give it
        activation="gelu",
        batch_norm=True,
        dropout=0.25,
        bn_momentum=0.8,
    )
    assert_logits_model(model, 2)
    assert _types(model) == [
        "InputLayer",
        "Flatten",
        *["Dense", "BatchNormalization", "Activation", "Dropout"] * 2,
        "Dense",
    ]
    hidden = [layer for layer in model.layers if isinstance(layer, keras.layers.Dense)][:-1]
    assert [d.units for d in hidden] == [8, 6] and not any(d.use_bias for d in hidden)
    assert {bn.momentum for bn in model.layers if hasattr(bn, "momentum")} == {0.8}
    assert {a.get_config()["activation"] for a in model.layers[4::4]} == {"gelu"}
    assert {d.rate for d in model.layers if isinstance(d, keras.layers.Dropout)} == {0.25}


def test_no_hidden_layers_is_a_linear_classifier():
    model = mlp(input_shape=(3,), num_classes=4, hidden_units=())
    assert _types(model) == ["InputLayer", "Flatten", "Dense"]
    assert model.count_params() == 3 * 4 + 4


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"hidden_units": (0,)}, "hidden_units must be an integer > 0"),
        ({"activation": "nope"}, "Could not interpret activation"),
        ({"dropout": 1.0}, r"dropout must be a finite number in \[0, 1\), got 1.0"),
        ({"dropout": -0.1}, r"dropout must be a finite number in \[0, 1\), got -0.1"),
        ({"dropout": float("nan")}, "dropout must be a finite number"),
        ({"bn_momentum": -1.0}, "bn_momentum"),
        ({"input_shape": ()}, "non-empty tuple"),
        ({"num_classes": -2}, "num_classes"),
    ],
)
def test_bad_arguments(kwargs, message):
    kwargs = {"input_shape": (4,), "num_classes": 2, **kwargs}
    with pytest.raises(ValueError, match=message):
        mlp(**kwargs)


def test_batch_norm_must_be_a_bool():
    with pytest.raises(TypeError, match="batch_norm must be True or False"):
        mlp(input_shape=(4,), num_classes=2, batch_norm="false")


def test_save_load_round_trip(tmp_path):
    model = mlp(input_shape=(2, 3), num_classes=4, batch_norm=True, dropout=0.5)
    assert_save_load_round_trip(model, str(tmp_path / "model.keras"))
