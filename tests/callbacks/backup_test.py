"""Backup: saved at epoch ends every so many seconds, the newest kept, resumed exactly."""

import os

import keras
import numpy as np
import pytest

from lbkeras.callbacks import Backup, backed_up_epochs, backup_record, latest_backup, restore


def _model():
    keras.utils.set_random_seed(1)
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(4), keras.layers.Dense(1)])
    model.compile(keras.optimizers.Adam(0.01), "mse")
    return model


def _data():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(32, 3)).astype("float32")
    return x, x.sum(axis=1, keepdims=True)


def _state(model):
    return [v.numpy() for v in model.weights] + [v.numpy() for v in model.optimizer.variables]


def test_every_epoch_with_zero_seconds_keeping_the_newest(tmp_path):
    model = _model()
    model.fit(
        *_data(), batch_size=8, epochs=4, verbose=0, callbacks=[Backup(str(tmp_path), 0, keep=3)]
    )
    assert backed_up_epochs(str(tmp_path)) == [2, 3, 4] and latest_backup(str(tmp_path)) == 4
    assert sorted(os.listdir(tmp_path)) == [
        f"epoch-00000{e}.{kind}" for e in (2, 3, 4) for kind in ("json", "weights.h5")
    ]


def test_a_long_period_saves_only_the_last_epoch(tmp_path):
    model = _model()
    model.fit(*_data(), batch_size=8, epochs=3, verbose=0, callbacks=[Backup(str(tmp_path), 3600)])
    assert backed_up_epochs(str(tmp_path)) == [3]  # at the end of training, always


def test_each_backup_keeps_the_epochs_logs_and_the_figures_it_is_given(tmp_path):
    history = _model().fit(
        *_data(),
        batch_size=8,
        epochs=3,
        verbose=0,
        validation_data=_data(),
        callbacks=[Backup(str(tmp_path), 3600, figures=lambda: {"seconds": 1.5})],
    )
    # Saved at the end of training (a long period): the logs of the last epoch.
    assert backup_record(str(tmp_path), 3) == {
        "loss": history.history["loss"][-1],
        "val_loss": history.history["val_loss"][-1],
        "seconds": 1.5,
    }
    assert backup_record(str(tmp_path), 2) == {}  # no backup of epoch 2


def test_resuming_continues_exactly(tmp_path):
    x, y = _data()
    uninterrupted = _model()
    uninterrupted.fit(x, y, batch_size=8, epochs=4, shuffle=False, verbose=0)

    first = _model()
    first.fit(
        x, y, batch_size=8, epochs=2, shuffle=False, verbose=0, callbacks=[Backup(str(tmp_path), 0)]
    )
    resumed = _model()  # a new process would build it afresh
    resumed.build((None, 3))
    restore(resumed, str(tmp_path), latest_backup(str(tmp_path)))
    assert int(resumed.optimizer.iterations.numpy()) == 8
    resumed.fit(x, y, batch_size=8, initial_epoch=2, epochs=4, shuffle=False, verbose=0)
    for a, b in zip(_state(uninterrupted), _state(resumed)):
        np.testing.assert_array_equal(a, b)


def test_temporary_and_foreign_files_are_not_backups(tmp_path):
    for name in (".tmp-x-epoch-000009.weights.h5", "epoch-7.weights.h5", "notes.txt"):
        (tmp_path / name).write_text("")
    assert backed_up_epochs(str(tmp_path)) == [] and latest_backup(str(tmp_path)) == 0


@pytest.mark.parametrize("arguments", [dict(every_seconds=-1), dict(keep=0)])
def test_bad_arguments(tmp_path, arguments):
    with pytest.raises(ValueError):
        Backup(str(tmp_path), **arguments)
