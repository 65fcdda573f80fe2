"""SAMModel under MirroredStrategy over 2 logical CPUs (tests/conftest.py): m-sharpness.

Each replica perturbs the weights with the gradient of its own half of the batch; the
update is the mean of the replicas' SAM gradients (Foret et al. 2021, section 4.1).
"""

import numpy as np

from tests.models.sam_common import RHO, data, fit, linear, mse_gradients, sgd_momentum, weights
from tests.optimizers import reference


def _m_sharpness(halves):
    """The mean over replicas of each replica's SAM gradient."""

    def gradient(w):
        per_replica = [reference.sam_gradient(g, w, RHO) for g in halves]
        return [np.mean(parts, axis=0) for parts in zip(*per_replica)]

    return gradient


def _global_sam(batch):
    return lambda w: reference.sam_gradient(batch, w, RHO)


def test_each_replica_perturbs_with_its_own_gradient(mirrored_strategy):
    x, y = data()
    with mirrored_strategy.scope():
        model = linear(rho=RHO)
    initial = weights(model)
    ours = fit(model, x, y, 16, epochs=2)  # two steps of the global batch, 8 per replica
    halves = [mse_gradients(x[:8], y[:8]), mse_gradients(x[8:], y[8:])]
    expected = sgd_momentum(initial, [_m_sharpness(halves)] * 2)
    for a, b in zip(ours, expected):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    # The global perturbation (one device, batch 16) is measurably another step.
    one_device = sgd_momentum(initial, [_global_sam(mse_gradients(x, y))] * 2)
    assert not np.allclose(ours[0], one_device[0], atol=1e-3)
