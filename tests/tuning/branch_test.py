"""The branch worker's callbacks (lbkeras.tuning.branch): snapshots after chosen loops that
a new model resumes from, and a stop after an optimizer step. The worker itself runs in
tests/tuning/critical_batch_test.py."""

from __future__ import annotations

import os

import keras
import numpy as np

from lbkeras import callbacks
from lbkeras.tuning.branch import Snapshots, StopAfterStep


def _model():
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile(keras.optimizers.SGD(0.1, momentum=0.9), "mse")
    return model


X, Y = np.arange(16, dtype="float32").reshape(8, 2) / 16, np.ones((8, 1), "float32")


def test_snapshots_are_backups_a_run_resumes_from(tmp_path):
    folders = {2: str(tmp_path / "a"), 3: str(tmp_path / "b")}
    model = _model()
    model.fit(
        X, Y, batch_size=4, epochs=4, verbose=0, shuffle=False, callbacks=[Snapshots(folders)]
    )
    assert callbacks.backed_up_epochs(folders[2]) == [2]
    assert callbacks.backed_up_epochs(folders[3]) == [3]
    assert not os.path.exists(tmp_path / "c")

    # Resumed from the snapshot of epoch 2, the 3rd epoch gives the weights saved after it.
    resumed = _model()
    resumed.build((None, 2))
    callbacks.restore(resumed, folders[2], 2)
    assert int(resumed.optimizer.iterations.numpy()) == 4
    resumed.fit(X, Y, batch_size=4, initial_epoch=2, epochs=3, verbose=0, shuffle=False)
    after = _model()
    after.build((None, 2))
    callbacks.restore(after, folders[3], 3)
    for a, b in zip(resumed.weights, after.weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy())


def test_stop_after_step_stops_mid_epoch():
    model = _model()
    history = model.fit(X, Y, batch_size=2, epochs=3, verbose=0, callbacks=[StopAfterStep(6)])
    assert int(model.optimizer.iterations.numpy()) == 6 and len(history.epoch) == 2
