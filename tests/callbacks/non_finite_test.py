"""A NaN loss stops fit at once and leaves the last good backup intact."""

import os

import keras
import numpy as np
import pytest

from lbkeras.callbacks import NonFiniteLossError, StopOnNonFiniteLoss


def test_nan_stops_before_the_backup_is_overwritten(tmp_path):
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.SGD(0.01), loss="mse")
    x = np.ones((32, 3), "float32")
    y = np.ones((32, 1), "float32")
    backup = str(tmp_path / "backup")
    callbacks = [
        StopOnNonFiniteLoss(),
        keras.callbacks.BackupAndRestore(backup, delete_checkpoint=False),
    ]
    model.fit(x, y, batch_size=8, epochs=1, verbose=0, callbacks=callbacks)
    good = [w.copy() for w in model.get_weights()]
    weights_file = os.path.join(backup, "latest.weights.h5")
    stamp = os.path.getmtime(weights_file)

    y_bad = y.copy()
    y_bad[20] = np.nan  # the third batch of the next epoch
    with pytest.raises(NonFiniteLossError, match=r"loss became nan in epoch 2 \(by step 8\)"):
        model.fit(x, y_bad, batch_size=8, epochs=2, verbose=0, callbacks=callbacks)
    assert os.path.getmtime(weights_file) == stamp
    restored = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    restored.load_weights(weights_file)
    for a, b in zip(restored.get_weights(), good):
        np.testing.assert_array_equal(a, b)
