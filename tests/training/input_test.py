"""The trainer's input: every example once per pass, exact resumption, the same global
batches on one device and on two replicas. Read from what ``build`` hands to ``fit``."""

import collections
import dataclasses

import numpy as np
import pytest
import tensorflow as tf

from lbkeras.training import ExperimentConfig, prepare
from lbkeras.training.input import input_data


def _config(tmp_path, **changes):
    settings = dict(
        model="mlp",
        model_options={"hidden_units": [8]},
        dataset_options={"num_train": 2000, "num_eval": 100},
        data_dir=str(tmp_path.parent / "data"),
        global_batch_size=300,  # does not divide the 2,000 examples
        epochs=3.0,
        warmup_epochs=1.0,
        model_dir=str(tmp_path / "run"),
        verbose=0,
    )
    return ExperimentConfig(**{**settings, **changes})


def _global_batches(prepared):
    """The features of every global batch the run's ``fit`` would read, in order."""
    train_data, _ = input_data(prepared)
    strategy = prepared.strategy
    out = []
    for x, _ in train_data:
        parts = strategy.experimental_local_results(x)
        out.append(np.concatenate([part.numpy() for part in parts]))
    return out


def _keys(batch):
    return sorted(row.tobytes() for row in batch)


def test_each_example_is_seen_once_per_pass(tmp_path):
    prepared = prepare(_config(tmp_path))
    assert prepared.plan.total_steps == 20  # round(3 * 2000 / 300)
    stream = _global_batches(prepared)
    assert len(stream) == 20 and all(len(batch) == 300 for batch in stream)
    counts = collections.Counter(key for batch in stream for key in _keys(batch))
    assert len(counts) == 2000 and set(counts.values()) == {3}  # 6,000 examples: 3 passes


def test_a_resumed_run_reads_the_batches_an_uninterrupted_one_would(tmp_path):
    prepared = prepare(_config(tmp_path))
    whole = _global_batches(prepared)
    resumed = _global_batches(dataclasses.replace(prepared, initial_loop=2))
    start = 2 * prepared.plan.steps_per_loop
    assert len(resumed) == len(whole) - start
    for a, b in zip(whole[start:], resumed):
        np.testing.assert_array_equal(a, b)
    # 20 steps in loops of 7, 7 and 6: a run resumed after the last loop reads nothing.
    assert prepared.plan.loops == 3
    assert _global_batches(dataclasses.replace(prepared, initial_loop=3)) == []


def test_two_replicas_read_the_same_global_batches(tmp_path):
    devices = tuple(d.name for d in tf.config.list_logical_devices("CPU"))
    assert len(devices) == 2
    one = _global_batches(prepare(_config(tmp_path / "one")))
    two = _global_batches(prepare(_config(tmp_path / "two", strategy="mirrored", devices=devices)))
    assert len(one) == len(two) == 20
    for a, b in zip(one, two):
        assert _keys(a) == _keys(b)


@pytest.mark.parametrize("accumulation_steps", [2])
def test_accumulation_reads_micro_batches(tmp_path, accumulation_steps):
    prepared = prepare(_config(tmp_path, accumulation_steps=accumulation_steps, epochs=6.0))
    assert prepared.plan.total_steps == 20 and prepared.plan.total_fit_steps == 40
    assert len(_global_batches(prepared)) == 40


def test_every_evaluation_is_one_pass_over_the_eval_split(tmp_path):
    """Each loop's evaluation covers the 500 eval examples once (300 + a partial 200): the
    final eval accuracy is the saved model's on all of them, computed here directly."""
    import keras

    from lbkeras.data.mnist1d import MNIST1DDataset
    from lbkeras.monitoring.events import read_scalars
    from lbkeras.training import run

    config = _config(tmp_path, dataset_options={"num_train": 2000, "num_eval": 500})
    config = config.replace(model="mnist1d_cnn", model_options={})
    results = run(config)
    model = keras.saving.load_model(f"{config.model_dir}/model.keras")
    x, y = MNIST1DDataset(config.data_dir, 2000, 500).arrays("eval")
    accuracy = float((np.argmax(model.predict(x, verbose=0), axis=1) == y).mean())
    assert results["eval_accuracy"] == pytest.approx(accuracy, abs=1e-6)
    logged = read_scalars(f"{config.model_dir}/logs/eval", "accuracy")
    assert sorted(logged) == [7, 14, 20] and logged[20] == pytest.approx(accuracy, abs=1e-6)


def test_two_replicas_each_get_nonempty_eval_batches_covering_the_eval_split(tmp_path):
    # 100 eval examples at 150 per replica: one batch of the pipeline would leave the
    # second replica an empty batch (on which a CPU convolution returns a wrong shape).
    prepared = prepare(_config(tmp_path, strategy="mirrored", devices=("2",)))
    _, eval_data = input_data(prepared)
    seen = []
    for x, _ in eval_data:
        parts = prepared.strategy.experimental_local_results(x)
        assert len(parts) == 2 and all(part.shape[0] > 0 for part in parts)
        seen.extend(row.tobytes() for part in parts for row in part.numpy())
    eval_x, _ = next(iter(prepared.source.make("eval", 100, training=False)))
    assert sorted(seen) == sorted(row.tobytes() for row in eval_x.numpy())
