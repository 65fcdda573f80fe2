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
