"""AdaScale under MirroredStrategy: 2 replicas equal one device with the same small gradients
(2 micro-batches of 16 there, 2 replicas of 16 here)."""

import keras
import numpy as np

from lbkeras.optimizers import AdaScale, GradientAccumulation


def test_two_replicas_equal_one_device_with_the_same_small_gradients(mirrored_strategy):
    x = np.random.default_rng(2).normal(size=(512, 4)).astype("float32")
    y = x @ np.array([[1.0], [2.0], [-1.0], [0.5]], "float32") + 0.5

    def trained(micro_batches, batch_size):
        keras.utils.set_random_seed(0)
        model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
        adascale = AdaScale(keras.optimizers.SGD(0.02, momentum=0.9))
        optimizer = GradientAccumulation(adascale, micro_batches) if micro_batches > 1 else adascale
        model.compile(optimizer, "mse")
        model.fit(x, y, batch_size=batch_size, epochs=2, shuffle=False, verbose=0)
        return [v.numpy() for v in model.weights], adascale.tau

    one, one_tau = trained(2, 16)  # 2 micro-batches of 16 per update
    with mirrored_strategy.scope():
        two, two_tau = trained(1, 32)  # 2 replicas of 16 per update
    assert one_tau > 32.5  # 32 updates with gains > 1
    np.testing.assert_allclose(two_tau, one_tau, rtol=1e-4)
    for a, b in zip(one, two):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
