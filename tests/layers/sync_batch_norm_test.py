"""use_sync_batch_norm: any model's batch norms over the global batch, under MirroredStrategy.

With a global batch of 16 over 2 replicas (tests/conftest.py), synchronised batch norm
normalises each replica's 8 examples with the statistics of all 16, as one device does:
the two runs end with the same weights and moving statistics, and plain (per-replica)
batch norm under the same strategy does not.

Same up to float rounding: the synchronised moments are E[x^2] - E[x]^2 and the
gradients other sums. So the test compares distances measured in the same run, in units
of the tolerance rtol=1e-4, atol=1e-5 (worst |a - b| / (atol + rtol |b|)): the synced
run must be at least ``SYNC_MARGIN`` times closer to one device than per-replica batch
norm is (measured after 8 steps: 0.32 against 2.2e4; a broken sync is ~1x).
"""

import keras
import numpy as np

from lbkeras.layers import replace_batch_norms, use_sync_batch_norm
from tests.layers.common import batch_norm_model, fit_weights, regression_data

SYNC_MARGIN = 100


def _distance(a, b):
    """The worst |a - b| / (1e-5 + 1e-4 |b|) over lists of arrays (above 1 fails allclose)."""
    return max(float(np.max(np.abs(x - y) / (1e-5 + 1e-4 * np.abs(y)))) for x, y in zip(a, b))


def _synced():
    model = use_sync_batch_norm(batch_norm_model(None))
    model.compile(optimizer=keras.optimizers.SGD(0.05, momentum=0.9), loss="mse")
    return model


def test_conversion_keeps_the_config_and_weights():
    model = batch_norm_model(None)
    fit_weights(model, *regression_data(), 16, epochs=1)  # moving statistics away from 0/1
    synced = use_sync_batch_norm(model)
    (norm,) = [
        layer for layer in synced.layers if isinstance(layer, keras.layers.BatchNormalization)
    ]
    assert norm.synchronized and norm.momentum == 0.9
    for a, b in zip(model.get_weights(), synced.get_weights()):
        np.testing.assert_array_equal(a, b)
    x = regression_data()[0]
    np.testing.assert_allclose(model.predict(x, verbose=0), synced.predict(x, verbose=0), rtol=1e-6)


def test_two_replicas_equal_one_device(mirrored_strategy):
    x, y = regression_data()
    one_device = fit_weights(batch_norm_model(None), x, y, 16)
    with mirrored_strategy.scope():
        synced = fit_weights(_synced(), x, y, 16)
        per_replica = fit_weights(batch_norm_model(None), x, y, 16)
    assert len(synced) == len(per_replica) == len(one_device) == 8  # moving statistics too
    distances = _distance(synced, one_device), _distance(per_replica, one_device)
    assert distances[0] * SYNC_MARGIN < distances[1], distances


def test_replace_batch_norms_leaves_other_layers_alone():
    model = batch_norm_model(None)
    replaced = replace_batch_norms(
        model, lambda config: keras.layers.BatchNormalization(**{**config, "epsilon": 0.1})
    )
    kinds = [type(layer).__name__ for layer in replaced.layers]
    assert kinds == [type(layer).__name__ for layer in model.layers]
    assert [layer.epsilon for layer in replaced.layers if hasattr(layer, "epsilon")] == [0.1]
