"""A NaN or diverged loss stops fit at once and leaves the last good backup intact."""

import os

import keras
import numpy as np
import pytest

from lbkeras.callbacks import (
    LossDivergedError,
    NonFiniteLossError,
    StopOnNonFiniteLoss,
    backed_up_epochs,
    divergence_limit,
)


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


def _guard(max_loss):
    """The guard on a built model at step 8, as fit would hand it over."""
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.SGD(0.01), loss="mse")
    model.optimizer.iterations.assign(8)
    guard = StopOnNonFiniteLoss(max_loss, "the limit's origin")
    guard.set_model(model)
    return guard


def test_divergence_limit_is_factor_times_the_loss_of_a_uniform_prediction():
    assert divergence_limit(10, 100) == pytest.approx(100 * 2.302585, rel=1e-6)
    assert divergence_limit(1000, 100) == pytest.approx(690.7755, rel=1e-6)
    assert divergence_limit(2, 10) == pytest.approx(6.931472, rel=1e-6)
    assert divergence_limit(1, 10) == divergence_limit(2, 10)  # a one-class loss is 0
    assert divergence_limit(10, 0) is None
    with pytest.raises(ValueError, match="factor"):
        divergence_limit(10, -1.0)
    with pytest.raises(ValueError, match="num_classes"):
        divergence_limit(0, 100)


@pytest.mark.parametrize(
    "loss, max_loss, error",
    [
        (2.3, 230.0, None),  # where training starts
        (230.0, 230.0, None),  # at the limit: not above it
        (230.01, 230.0, LossDivergedError),
        (1e14, 230.0, LossDivergedError),  # the README's lookahead/LAMB run
        (1e14, None, None),  # no limit: only NaN and infinity stop
        (float("nan"), 230.0, NonFiniteLossError),
        (float("inf"), None, NonFiniteLossError),
        (None, 230.0, None),  # no loss in the logs
    ],
)
def test_the_rule_on_hand_cases(loss, max_loss, error):
    guard = _guard(max_loss)
    logs = {} if loss is None else {"loss": loss}
    if error is None:
        guard.on_epoch_end(2, logs)
        return
    with pytest.raises(error) as raised:
        guard.on_epoch_end(2, logs)
    assert type(raised.value) is error  # a NaN is not called a divergence, nor the reverse
    assert "in epoch 3 (by step 8)" in str(raised.value)
    assert "--base_learning_rate" in str(raised.value)
    if error is LossDivergedError:
        assert "is above 230 (the limit's origin): training diverged" in str(raised.value)


class _WeightsPerEpoch(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.weights = {}

    def on_epoch_end(self, epoch, logs=None):
        self.weights[epoch + 1] = [w.copy() for w in self.model.get_weights()]


def test_a_diverging_run_stops_and_keeps_the_last_good_backup(tmp_path):
    from lbkeras.training import ExperimentConfig, build, prepare, run

    # SGD at a huge rate on a ReLU MLP: the loss grows with the warming-up rate and stays
    # finite (loop means about 2.8, 8.8, 24); the limit is 10 x ln(4) = 13.9.
    config = ExperimentConfig(
        model_dir=str(tmp_path / "run"),
        model="mlp",
        model_options={"hidden_units": [16]},
        dataset="synthetic",
        dataset_options={"input_shape": [8], "num_classes": 4, "num_train": 256, "num_eval": 64},
        global_batch_size=32,
        base_batch_size=32,
        optimizer="sgd",
        base_learning_rate=30.0,
        weight_decay=0.0,
        schedule="constant",
        epochs=4,
        warmup_epochs=2,
        backup_every_seconds=0,
        divergence_factor=10.0,
        verbose=0,
    )
    seen = _WeightsPerEpoch()
    with pytest.raises(LossDivergedError, match=r"in epoch 3 \(by step 24\) is above 13.86"):
        run(config, callbacks=[seen])
    assert sorted(seen.weights) == [1, 2]  # the guard stopped epoch 3 before anything else
    assert backed_up_epochs(str(tmp_path / "run" / "backup")) == [1, 2]
    assert not os.path.exists(tmp_path / "run" / "model.keras")
    assert not os.path.exists(tmp_path / "run" / "results.json")
    model, _, _ = build(prepare(config))  # resumes from the newest backup
    assert int(model.optimizer.iterations.numpy()) == 16
    for restored, good in zip(model.get_weights(), seen.weights[2]):
        np.testing.assert_array_equal(restored, good)
