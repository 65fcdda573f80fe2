"""Helpers shared by the batch-norm tests: a small regression model with (ghost) batch norm."""

import keras
import numpy as np

from lbkeras.layers import GhostBatchNormalization


def regression_data(n=64):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, 4)).astype(np.float32)
    x[: n // 2] += 3.0  # groups with different statistics
    return x, (x @ np.array([[1.0], [-2.0], [0.5], [1.5]])).astype(np.float32)


def batch_norm_model(virtual_batch_size):
    keras.utils.set_random_seed(0)
    inputs = keras.Input((4,))
    x = keras.layers.Dense(8)(inputs)
    if virtual_batch_size:
        x = GhostBatchNormalization(virtual_batch_size, momentum=0.9)(x)
    else:
        x = keras.layers.BatchNormalization(momentum=0.9)(x)
    outputs = keras.layers.Dense(1)(keras.layers.ReLU()(x))
    model = keras.Model(inputs, outputs)
    model.compile(optimizer=keras.optimizers.SGD(0.05, momentum=0.9), loss="mse")
    return model


def fit_weights(model, x, y, batch_size, epochs=2):
    model.fit(x, y, batch_size=batch_size, epochs=epochs, shuffle=False, verbose=0)
    return [keras.ops.convert_to_numpy(w) for w in model.weights]
