"""Tests for the model registry in lbkeras.models (get, names, options)."""

from __future__ import annotations

import keras
import pytest

from lbkeras import models
from lbkeras.registry import Registry
from tests.models.common import assert_logits_model

RESNETS = [f"resnet{d}{v}" for d in (18, 34, 50, 101) for v in ("", "_v2")]


def test_names():
    assert isinstance(models.MODELS, Registry)
    assert models.names() == sorted(["mlp", "mnist1d_cnn", "transformer_lm", *RESNETS])


@pytest.mark.parametrize(
    "name, input_shape", [("mnist1d_cnn", (40,)), ("mlp", (4, 4, 1)), ("RESNET18", (16, 16, 3))]
)
def test_get_builds_a_logits_model(name, input_shape):
    # Every ResNet name is built in tests/models/resnet_test.py.
    assert_logits_model(models.get(name, input_shape=input_shape, num_classes=7), 7)


def test_options_lists_each_models_options_and_defaults():
    assert models.options("mlp") == {
        "hidden_units": (256, 256),
        "activation": "relu",
        "batch_norm": False,
        "dropout": 0.0,
        "bn_momentum": 0.9,
    }
    assert models.options("mnist1d_cnn") == {
        "filters": (32, 32, 64, 64),
        "strides": (1, 2, 1, 2),
        "bn_momentum": 0.9,
    }
    assert models.options("transformer_lm") == {
        "num_layers": 4,
        "width": 128,
        "num_heads": 4,
        "mlp_ratio": 4,
        "positions": "learned",
        "tie_embeddings": True,
    }
    for name in RESNETS:
        assert models.options(name) == {
            "zero_init_residual_gamma": False,
            "synchronized_batch_norm": False,
            "bn_momentum": 0.9,
        }


def test_options_pass_through():
    model = models.get("mlp", input_shape=(3,), num_classes=2, hidden_units=[5], dropout=0.5)
    assert [layer.units for layer in model.layers if isinstance(layer, keras.layers.Dense)] == [
        5,
        2,
    ]


def test_unknown_name_lists_the_choices():
    with pytest.raises(ValueError, match="unknown model 'resnet152'") as info:
        models.get("resnet152", input_shape=(32, 32, 3), num_classes=10)
    for name in ["mlp", "mnist1d_cnn", *RESNETS]:
        assert name in str(info.value)


def test_unknown_option_lists_the_options():
    with pytest.raises(ValueError, match="model 'mlp' has no option hidden, weight_decay") as info:
        models.get("mlp", input_shape=(3,), num_classes=2, hidden=(4,), weight_decay=1e-4)
    assert "hidden_units" in str(info.value)


@pytest.mark.parametrize(
    "name, kwargs",
    [
        ("mlp", {"input_shape": (3,), "num_classes": 0}),
        ("mlp", {"input_shape": 3, "num_classes": 2}),
        ("mnist1d_cnn", {"input_shape": (40,), "num_classes": 10, "strides": (1, 2)}),
        ("resnet18", {"input_shape": (32, 32), "num_classes": 10}),
        ("resnet50_v2", {"input_shape": (32, 32, 3), "num_classes": 10, "bn_momentum": 1.0}),
    ],
)
def test_bad_values_raise_value_error(name, kwargs):
    with pytest.raises(ValueError):
        models.get(name, **kwargs)


def test_logits_are_float32_under_mixed_precision():
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        model = models.get("mlp", input_shape=(3,), num_classes=2)
    finally:
        keras.mixed_precision.set_global_policy("float32")
    assert model.layers[1].compute_dtype == "float16"
    assert model.output.dtype == "float32"
