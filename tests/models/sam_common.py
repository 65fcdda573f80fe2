"""Helpers shared by the SAM tests: least squares on a linear model, in Keras and NumPy."""

from __future__ import annotations

import keras
import numpy as np

from lbkeras.models.sam import SAMModel
from tests.optimizers import reference

RHO, LR, MOMENTUM = 0.3, 0.1, 0.9


def data(n=16, seed=0):
    """Inputs and a non-linear target: the gradient stays large enough to matter."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 3)).astype(np.float32)
    y = (np.sin(2 * x[:, :1]) + x[:, 1:2] * x[:, 2:]).astype(np.float32)  # not linear
    return x, y


def mse_gradients(x, y):
    """``gradient(weights)`` of mean((x W + b - y)^2), in float64."""
    x, y = x.astype(np.float64), y.astype(np.float64)

    def gradient(weights):
        kernel, bias = weights
        residual = x @ kernel + bias - y
        return [2 * x.T @ residual / len(x), 2 * residual.sum(axis=0) / len(x)]

    return gradient


def sgd_momentum(weights, steps):
    """Keras's SGD with momentum after ``steps`` gradients ``steps[i](weights)``."""
    momenta = [0.0 for _ in weights]
    for gradient in steps:
        grads = gradient(weights)
        stepped = [
            reference.sgd_step(w, g, m, LR, momentum=MOMENTUM)
            for w, g, m in zip(weights, grads, momenta)
        ]
        weights, momenta = [s[0] for s in stepped], [s[1] for s in stepped]
    return weights


def linear(model_class=SAMModel, **kwargs) -> keras.Model:
    """A compiled ``model_class`` (SAMModel or keras.Model) with one Dense unit, seed 0."""
    keras.utils.set_random_seed(0)
    inputs = keras.Input((3,))
    model = model_class(inputs, keras.layers.Dense(1, name="dense")(inputs), **kwargs)
    model.compile(optimizer=keras.optimizers.SGD(LR, momentum=MOMENTUM), loss="mse")
    return model


def weights(model) -> list:
    return [keras.ops.convert_to_numpy(w).astype(np.float64) for w in model.weights]


def fit(model, x, y, batch_size, epochs=1):
    """The weights after ``model.fit`` in order, without shuffling."""
    model.fit(x, y, batch_size=batch_size, epochs=epochs, shuffle=False, verbose=0)
    return weights(model)
