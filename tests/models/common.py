"""Checks every lbkeras model must pass: logits of the right shape, and a save/load round trip."""

from __future__ import annotations

import keras
import numpy as np

import lbkeras  # noqa: F401  (load_model runs after `import lbkeras`, as users do)

_x = keras.Input((1,))
FUNCTIONAL = type(keras.Model(_x, keras.layers.Identity()(_x)))  # what keras.Model(in, out) is


def random_inputs(model: keras.Model, batch_size: int = 2, seed: int = 0) -> np.ndarray:
    """A float32 batch for ``model``'s input."""
    shape = (batch_size, *model.input.shape[1:])
    return np.random.default_rng(seed).normal(size=shape).astype("float32")


def assert_logits_head(model: keras.Model, num_classes: int) -> None:
    """A built plain functional model whose last layer is a linear Dense of ``num_classes``."""
    assert type(model) is FUNCTIONAL, type(model)
    assert model.built and model.weights
    head = model.layers[-1]
    assert isinstance(head, keras.layers.Dense) and head.units == num_classes
    assert head.get_config()["activation"] == "linear"
    assert model.output is head.output


def assert_logits_model(model: keras.Model, num_classes: int) -> None:
    """:func:`assert_logits_head`, and a batch of 2 gives logits of shape ``(2, num_classes)``."""
    assert_logits_head(model, num_classes)
    outputs = model(random_inputs(model), training=False)
    assert tuple(outputs.shape) == (2, num_classes)


def assert_save_load_round_trip(model: keras.Model, path: str) -> keras.Model:
    """Saves and reloads ``model``; the copy gives identical outputs. Returns the copy."""
    x = random_inputs(model, seed=1)
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert type(loaded) is FUNCTIONAL
    np.testing.assert_array_equal(model(x, training=False), loaded(x, training=False))
    return loaded
