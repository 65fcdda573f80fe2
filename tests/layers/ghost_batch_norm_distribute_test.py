"""GhostBatchNormalization in training: under MirroredStrategy, and reloaded in a new process.

Ghost batches on one device compute what per-replica batch norm computes on several
devices: with a global batch of 16 over 2 replicas (tests/conftest.py), each replica
normalises its 8 examples; one device with ``virtual_batch_size=8`` normalises the same
two groups of 8. So the two runs must end with the same weights and moving statistics
(the layer averages its moving statistics over the replicas), and plain batch norm over
the 16 must not. The same holds for ghost batches of 4 inside each replica's 8.
"""

import keras
import numpy as np
import pytest

from lbkeras.layers import GhostBatchNormalization
from tests.layers.common import batch_norm_model as _model
from tests.layers.common import fit_weights as _trained
from tests.layers.common import regression_data as _data
from tests.optimizers.continue_training import continue_in_new_process


@pytest.mark.parametrize("virtual_batch_size", [8, 4])
def test_ghost_batches_on_one_device_equal_batch_norm_per_replica(
    mirrored_strategy, virtual_batch_size
):
    x, y = _data()
    one_device = _trained(_model(virtual_batch_size), x, y, 16)
    with mirrored_strategy.scope():  # 8 per replica: 1 or 2 ghost batches each
        per_replica = _trained(_model(virtual_batch_size), x, y, 16)
    for a, b in zip(one_device, per_replica):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)  # float32 sums in another order
    whole_batch = _trained(_model(None), x, y, 16)
    assert not all(np.allclose(a, b, atol=1e-4) for a, b in zip(one_device, whole_batch))


def test_save_load_in_a_new_process_continues_identically(tmp_path):
    x, y = _data(128)
    model = _model(16)
    _trained(model, x, y, 64, epochs=1)
    model.save(tmp_path / "ghost.keras")
    uninterrupted = _trained(model, x, y, 64, epochs=1)  # continue_training uses batch 64
    np.savez(tmp_path / "data.npz", x=x, y=y)
    [out] = continue_in_new_process(
        [(tmp_path / "ghost.keras", tmp_path / "data.npz", 1, tmp_path / "out.npz")]
    )
    for i, value in enumerate(uninterrupted):
        np.testing.assert_array_equal(out[f"weight_{i}"], value)
    loaded = keras.saving.load_model(tmp_path / "ghost.keras")
    assert type(loaded.layers[2]) is GhostBatchNormalization
    assert loaded.layers[2].virtual_batch_size == 16
