"""The keras_compat patch for BatchNormalization's moving statistics under MirroredStrategy.

(The multi-worker patches are exercised by multi_worker_trainer_test.py, the first-batch fix by
the trainer's resume and distribution tests.)

With the patch, each update of a moving statistic is averaged over the replicas, so a
plain BatchNormalization on 2 replicas of 8 examples ends with the statistics of one
device normalising ghost batches of 8: both normalise the same groups.
"""

import os
import re

import keras
import numpy as np

from lbkeras.distribute import keras_compat
from tests.layers.common import batch_norm_model, fit_weights, regression_data


def test_batch_norm_statistics_are_averaged_over_replicas(mirrored_strategy):
    assert keras_compat.apply()
    x, y = regression_data()
    one_device_ghosts = fit_weights(batch_norm_model(8), x, y, 16)
    with mirrored_strategy.scope():
        bn_model = batch_norm_model(None)  # plain BatchNormalization, built after the patch
        per_replica = fit_weights(bn_model, x, y, 16)
    for a, b in zip(one_device_ghosts, per_replica):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
    # Every replica holds the same copy (without the patch, each holds its own).
    batch_norm = next(
        layer for layer in bn_model.layers if isinstance(layer, keras.layers.BatchNormalization)
    )
    copies = [c.numpy() for c in batch_norm.moving_mean.value.values]
    np.testing.assert_array_equal(copies[0], copies[1])


def test_the_tested_keras_range_is_requirements_txt():
    """TESTED_KERAS is the code's copy of requirements.txt's keras bounds: they move together."""
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    with open(os.path.join(root, "requirements.txt")) as f:
        low, high = re.search(r"^keras>=([\d.]+),<=([\d.]+)", f.read(), re.M).groups()
    required = tuple(tuple(int(part) for part in bound.split(".")[:2]) for bound in (low, high))
    assert required == keras_compat.TESTED_KERAS
