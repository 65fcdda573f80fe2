"""The synthetic source: shapes, batch counts, seeds, sharding, eval order, soft labels."""

import keras
import numpy as np
import pytest

from lbkeras.data.synthetic import SyntheticDataset
from tests.data.common import batches, concat, context


def _source(**options):
    defaults = dict(input_shape=(4, 4, 3), num_classes=5, num_train=10, num_eval=7)
    return SyntheticDataset(**{**defaults, **options})


def test_shapes_dtypes_and_batch_counts():
    source = _source()
    assert source.info.input_shape == (4, 4, 3) and source.info.num_train == 10
    train = batches(source.make("train", 4, training=True, seed=0))
    assert [x.shape for x, _ in train] == [(4, 4, 4, 3)] * 2  # remainder dropped
    assert train[0][0].dtype == np.float32 and train[0][1].dtype == np.int32
    evaluation = batches(source.make("eval", 4, training=False))
    assert [len(y) for _, y in evaluation] == [4, 3]  # remainder kept
    x, y = concat(source.make("train", 2, training=True, seed=0))
    assert x.min() >= 0 and x.max() < 1 and set(y) <= set(range(5))


def test_examples_come_from_a_small_pool():
    source = _source(num_train=100, pool_size=8)
    pool_x, pool_y = (t.numpy() for t in source.pool("train"))
    assert pool_x.shape == (8, 4, 4, 3)
    x, y = concat(source.make("train", 10, training=True, seed=0))
    match = [int(np.flatnonzero((pool_x == image).all(axis=(1, 2, 3)))[0]) for image in x]
    np.testing.assert_array_equal(y, pool_y[match])
    assert not np.array_equal(source.pool("eval")[0].numpy(), pool_x[:7])


def test_eval_is_unshuffled():
    source = _source(num_eval=12, pool_size=5)
    pool_x, pool_y = (t.numpy() for t in source.pool("eval"))
    x, y = concat(source.make("eval", 5, training=False, seed=3))
    np.testing.assert_array_equal(x, pool_x[np.arange(12) % 5])
    np.testing.assert_array_equal(y, pool_y[np.arange(12) % 5])


def test_seed_repeats_the_order_and_epochs_differ():
    source = _source()
    ds = source.make("train", 2, training=True, seed=7)
    first, second = concat(ds)[0], concat(ds)[0]
    np.testing.assert_array_equal(first, concat(source.make("train", 2, training=True, seed=7))[0])
    assert not np.array_equal(first, second)
    assert not np.array_equal(first, concat(source.make("train", 2, training=True, seed=8))[0])


def test_two_pipelines_get_disjoint_shards_covering_the_data():
    source = _source(num_train=10, pool_size=10)
    pool_x = source.pool("train")[0].numpy().reshape(10, -1)
    shards = [
        concat(source.make("train", 1, training=True, input_context=context(i), seed=0))[0]
        for i in range(2)
    ]
    rows = [{tuple(row) for row in shard.reshape(len(shard), -1)} for shard in shards]
    assert len(shards[0]) == len(shards[1]) == 5 and not rows[0] & rows[1]
    assert rows[0] | rows[1] == {tuple(row) for row in pool_x}


def test_mixup_gives_soft_labels_in_both_splits():
    source = _source(augment="mixup")
    assert source.soft_labels and not _source(augment="randaugment").soft_labels
    _, y = concat(source.make("train", 5, training=True, seed=0))
    assert y.shape == (10, 5) and y.dtype == np.float32
    np.testing.assert_allclose(y.sum(axis=1), 1.0, rtol=1e-6)
    _, y_eval = concat(source.make("eval", 7, training=False))
    np.testing.assert_array_equal(y_eval, np.eye(5)[source.pool("eval")[1].numpy()])


def test_errors():
    with pytest.raises(ValueError, match="larger than the 5 examples"):
        _source().make("train", 6, training=True, input_context=context(0))
    with pytest.raises(ValueError, match="unknown split 'test'"):
        _source().make("test", 2, training=False)
    with pytest.raises(ValueError, match="unknown augment 'mixit'"):
        _source(augment="mixit")
    with pytest.raises(ValueError, match="needs images"):
        _source(input_shape=(40,), augment="cutmix")


@pytest.mark.filterwarnings("ignore:Your input ran out of data", "ignore:`shuffle=True`")
def test_feeds_model_fit_under_mirrored_strategy(mirrored_strategy):
    strategy = mirrored_strategy
    source = _source(num_train=16, augment="cutmix")
    ds = strategy.distribute_datasets_from_function(
        lambda ctx: source.make(
            "train", ctx.get_per_replica_batch_size(8), training=True, input_context=ctx, seed=0
        )
    )
    with strategy.scope():
        model = keras.Sequential(
            [keras.Input(source.info.input_shape), keras.layers.Flatten(), keras.layers.Dense(5)]
        )
        model.compile("sgd", keras.losses.CategoricalCrossentropy(from_logits=True))
    history = model.fit(ds, epochs=2, verbose=0)
    assert len(history.history["loss"]) == 2 and np.isfinite(history.history["loss"]).all()
