"""Precise batch norm (lbkeras.callbacks.precise_batch_norm): the recomputed statistics
against NumPy's average of the batch statistics (plain, nested and ghost batch norm),
the callback inside ``model.fit`` (one device and MirroredStrategy), and the trainer's
``--precise_bn_examples``: the run evaluates the model with the statistics of its final
weights over the first training examples, and trains exactly as without it."""

from __future__ import annotations

import json
import os

import keras
import numpy as np
import pytest

from lbkeras import layers as lb_layers
from lbkeras.callbacks import PreciseBatchNorm, recompute_batch_norm
from lbkeras.training import ExperimentConfig, run

RNG = np.random.default_rng(0)
BATCHES = [RNG.normal(size=(8, 3)).astype("float32") for _ in range(3)]


def _model(norm=None, nested=False):
    """Dense(4) -> batch norm -> Dense(2), weights from seed 1."""
    keras.utils.set_random_seed(1)
    norm = norm or keras.layers.BatchNormalization(momentum=0.9)
    body = keras.Sequential([keras.Input((3,)), keras.layers.Dense(4), norm])
    if nested:
        return keras.Sequential([keras.Input((3,)), body, keras.layers.Dense(2)])
    return keras.Sequential([keras.Input((3,)), *body.layers, keras.layers.Dense(2)])


def _expected(model, batches, ghost=None):
    """NumPy: the batch-norm input x W + b of each batch; the mean over batches of its
    (ghost-averaged) mean and biased variance."""
    dense = (
        model.layers[0].layers[0]
        if isinstance(model.layers[0], keras.Sequential)
        else model.layers[0]
    )
    kernel, bias = (v.numpy().astype(np.float64) for v in dense.weights)
    means, variances = [], []
    for x in batches:
        h = x.astype(np.float64) @ kernel + bias
        groups = h.reshape(-1, ghost or len(h), h.shape[-1])
        means.append(groups.mean(axis=1).mean(axis=0))
        variances.append(groups.var(axis=1).mean(axis=0))
    return np.mean(means, axis=0), np.mean(variances, axis=0)


def _statistics(model):
    """The first batch-norm layer (trainable or not) and its moving statistics."""
    norm = _norms(model)[0]
    return norm, norm.moving_mean.numpy(), norm.moving_variance.numpy()


@pytest.mark.parametrize(
    "norm, nested, ghost",
    [
        (None, False, None),
        (None, True, None),
        (lb_layers.GhostBatchNormalization(virtual_batch_size=2, momentum=0.9), False, 2),
    ],
    ids=["plain", "nested", "ghost"],
)
def test_the_statistics_are_the_average_of_the_batch_statistics(norm, nested, ghost):
    model = _model(norm, nested)
    assert recompute_batch_norm(model, BATCHES) == 1
    layer, mean, variance = _statistics(model)
    expected_mean, expected_variance = _expected(model, BATCHES, ghost)
    np.testing.assert_allclose(mean, expected_mean, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(variance, expected_variance, rtol=1e-5, atol=1e-6)
    assert layer.momentum == 0.9  # restored


def test_frozen_layers_and_models_without_batch_norm_are_left_alone():
    model = _model()
    model.layers[1].trainable = False
    before = _statistics(model)[1:]
    assert recompute_batch_norm(model, BATCHES) == 0
    np.testing.assert_array_equal(_statistics(model)[1], before[0])
    plain = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    assert recompute_batch_norm(plain, BATCHES) == 0


def test_no_batches_is_one_clear_error():
    with pytest.raises(ValueError, match="one or more batches"):
        recompute_batch_norm(_model(), [])
    with pytest.raises(ValueError, match="one or more batches"):
        PreciseBatchNorm([])


def _fit(model, strategy=None):
    x = RNG.normal(size=(64, 3)).astype("float32")
    y = (x[:, 0] > 0).astype("int64")
    model.compile(
        optimizer=keras.optimizers.SGD(0.5),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    model.fit(
        x,
        y,
        batch_size=16,
        epochs=2,
        validation_data=(x, y),
        verbose=0,
        shuffle=False,
        callbacks=[PreciseBatchNorm(BATCHES)],
    )
    return x, y


def test_the_callback_recomputes_before_each_evaluation_in_fit():
    model = _model()
    x, y = _fit(model)
    # fit ended with an evaluation: its statistics are the final weights' (no training
    # step came after), not the moving averages.
    _, mean, variance = _statistics(model)
    expected_mean, expected_variance = _expected(model, BATCHES)
    np.testing.assert_allclose(mean, expected_mean, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(variance, expected_variance, rtol=1e-5, atol=1e-6)


def test_the_callback_under_mirrored_strategy_sets_every_replica(mirrored_strategy):
    with mirrored_strategy.scope():
        model = _model()
        _fit(model)
    norm = _statistics(model)[0]
    expected_mean, expected_variance = _expected(model, BATCHES)
    for variable, expected in (
        (norm.moving_mean, expected_mean),
        (norm.moving_variance, expected_variance),
    ):
        replicas = variable.value.values  # a MirroredVariable: one copy per device
        assert len(replicas) == 2
        for value in replicas:
            np.testing.assert_allclose(value.numpy(), expected, rtol=1e-5, atol=1e-6)


TINY = ExperimentConfig(
    model="mnist1d_cnn",
    model_options={"filters": [4, 4], "strides": [2, 2]},
    dataset="mnist1d",
    dataset_options={"num_train": 250, "num_eval": 130},
    optimizer="lamb",
    base_learning_rate=0.05,
    base_batch_size=128,
    global_batch_size=128,
    epochs=3,
    warmup_epochs=0,
    verbose=0,
)


def test_the_trainer_evaluates_with_the_final_weights_statistics(tmp_path):
    data_dir = str(tmp_path / "data")
    plain = run(TINY.replace(model_dir=str(tmp_path / "plain"), data_dir=data_dir))
    config = TINY.replace(
        model_dir=str(tmp_path / "precise"), data_dir=data_dir, precise_bn_examples=200
    )
    precise = run(config)
    # Training is the same (batch norm trains on batch statistics); the evaluation is not.
    assert precise["train_loss"] == plain["train_loss"]
    assert (
        precise["eval_accuracy"] != plain["eval_accuracy"]
        or precise["eval_loss"] != plain["eval_loss"]
    )
    model = keras.saving.load_model(os.path.join(config.model_dir, "model.keras"))
    saved = [(n.moving_mean.numpy(), n.moving_variance.numpy()) for n in _norms(model)]
    # The first 200 training examples in the source's order, in batches of 128: 128 + 72.
    from lbkeras import data

    source = data.get("mnist1d", data_dir=data_dir, num_train=250, num_eval=130)
    x, _ = source.arrays("train")
    recompute_batch_norm(model, [x[:128], x[128:200]])
    for (mean, variance), norm in zip(saved, _norms(model)):
        np.testing.assert_array_equal(mean, norm.moving_mean.numpy())
        np.testing.assert_array_equal(variance, norm.moving_variance.numpy())
    metrics = model.evaluate(*source.arrays("eval"), batch_size=128, verbose=0, return_dict=True)
    with open(os.path.join(config.model_dir, "results.json")) as f:
        assert json.load(f)["eval_accuracy"] == pytest.approx(metrics["accuracy"], abs=1e-6)


def _norms(model):
    return [
        layer
        for layer in model._flatten_layers()
        if isinstance(layer, keras.layers.BatchNormalization)
    ]


def test_the_flag_on_a_model_without_batch_norm_is_one_clear_error(tmp_path):
    config = TINY.replace(
        model="mlp",
        model_options={"hidden_units": [8]},
        model_dir=str(tmp_path / "run"),
        data_dir=str(tmp_path / "data"),
        precise_bn_examples=64,
    )
    with pytest.raises(ValueError, match="has no batch norm to recompute: drop the flag"):
        run(config)
