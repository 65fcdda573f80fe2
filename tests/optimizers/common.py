"""Helpers shared by the optimizer tests: named variables and a step driver."""

from __future__ import annotations

import contextlib

import keras
import numpy as np


def make_variable(value, path: str) -> keras.Variable:
    """A float32 Keras variable whose ``path`` is ``path`` ("scope/name")."""
    *scopes, name = path.split("/")
    with contextlib.ExitStack() as stack:
        for scope in scopes:
            stack.enter_context(keras.name_scope(scope))
        variable = keras.Variable(np.asarray(value, np.float32), name=name)
    assert variable.path == path, variable.path
    return variable


def random_gradients(shapes, steps: int, seed: int = 0, zero_steps=()):
    """``steps`` lists of gradients; at the indices in ``zero_steps`` all are zero."""
    rng = np.random.default_rng(seed)
    out = []
    for step in range(steps):
        grads = [rng.normal(size=s).astype(np.float32) for s in shapes]
        if step in zero_steps:
            grads = [np.zeros_like(g) for g in grads]
        out.append(grads)
    return out


def toy_classification(
    num_examples: int = 512, features: int = 16, classes: int = 4, seed: int = 0
):
    """Inputs and labels from a fixed random linear teacher: learnable, tiny."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(num_examples, features)).astype(np.float32)
    teacher = rng.normal(size=(features, classes))
    y = np.argmax(x @ teacher, axis=1).astype(np.int32)
    return x, y


def tiny_classifier(
    features: int = 16, classes: int = 4, seed: int = 0, synchronized: bool = False
) -> keras.Model:
    """A two-layer MLP with batch norm: kernels, biases and 1-D norm variables.

    ``synchronized`` batch norm makes replicas of a strategy share statistics, so
    a distributed step equals the single-device step on the same global batch.
    """
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((features,))
    h = keras.layers.Dense(32, use_bias=False, name="hidden")(inputs)  # BN follows
    h = keras.layers.BatchNormalization(name="norm", synchronized=synchronized)(h)
    h = keras.layers.Activation("relu")(h)
    outputs = keras.layers.Dense(classes, name="logits")(h)
    return keras.Model(inputs, outputs)
