"""MNIST-1D generation and its on-disk cache."""

import os

import numpy as np
import pytest

from lbkeras.data import DatasetInfo, load_mnist1d
from lbkeras.data.mnist1d import MNIST1DDataset
from tests.data.common import batches, concat, context


def test_generates_caches_and_reloads(tmp_path):
    (x, y), (x_test, y_test) = load_mnist1d(str(tmp_path), num_train=400, num_test=100)
    assert x.shape == (400, 40) and x_test.shape == (100, 40)
    assert x.dtype == np.float32 and y.dtype == np.int32
    assert set(np.unique(np.concatenate([y, y_test]))) == set(range(10))
    files = os.listdir(tmp_path)
    assert files == ["mnist1d_400_100_seed42.npz"]  # no temporary file left behind
    (x2, y2), _ = load_mnist1d(str(tmp_path), num_train=400, num_test=100)
    np.testing.assert_array_equal(x, x2)
    np.testing.assert_array_equal(y, y2)


def test_seed_changes_the_data(tmp_path):
    (x1, _), _ = load_mnist1d(str(tmp_path), num_train=90, num_test=10, seed=1)
    (x2, _), _ = load_mnist1d(str(tmp_path), num_train=90, num_test=10, seed=2)
    assert not np.allclose(x1, x2)


@pytest.mark.parametrize("num_train, num_test", [(0, 10), (95, 10), (100, -10)])
def test_bad_sizes(tmp_path, num_train, num_test):
    with pytest.raises(ValueError, match="multiple of 10"):
        load_mnist1d(str(tmp_path), num_train=num_train, num_test=num_test)
    assert os.listdir(tmp_path) == []


def test_dataset_source_batches_shards_and_keeps_eval_order(tmp_path):
    source = MNIST1DDataset(str(tmp_path), num_train=400, num_eval=100)
    assert source.info == DatasetInfo("mnist1d", 10, (40,), 400, 100)
    assert os.listdir(tmp_path) == []  # nothing generated before the first make
    train = batches(source.make("train", 128, training=True, seed=0))
    assert [x.shape for x, _ in train] == [(128, 40)] * 3
    assert train[0][0].dtype == np.float32 and train[0][1].dtype == np.int32
    (x, y), (x_test, y_test) = load_mnist1d(str(tmp_path), num_train=400, num_test=100)
    x_eval, y_eval = concat(source.make("eval", 64, training=False, seed=0))
    np.testing.assert_array_equal(x_eval, x_test)
    np.testing.assert_array_equal(y_eval, y_test)
    shards = [
        concat(source.make("train", 1, training=True, input_context=context(i), seed=0))
        for i in range(2)
    ]
    rows = [{row.tobytes() for row in shard_x} for shard_x, _ in shards]
    assert len(rows[0]) == len(rows[1]) == 200 and not rows[0] & rows[1]
    assert rows[0] | rows[1] == {row.tobytes() for row in x}
    first = concat(source.make("train", 100, training=True, seed=1))[0]
    np.testing.assert_array_equal(
        first, concat(source.make("train", 100, training=True, seed=1))[0]
    )
    assert not np.array_equal(first, x)  # shuffled


def test_generation_leaves_the_global_generators_alone(tmp_path):
    import random

    random.seed(7)
    np.random.seed(7)
    expected = (random.random(), np.random.random())
    random.seed(7)
    np.random.seed(7)
    load_mnist1d(str(tmp_path), num_train=90, num_test=10)
    assert (random.random(), np.random.random()) == expected


def test_validation_holds_out_the_end_of_the_training_set(tmp_path):
    (x, y), (x_test, y_test) = load_mnist1d(str(tmp_path), num_train=180, num_test=20)
    source = MNIST1DDataset(str(tmp_path), num_train=180, num_eval=20, validation=30)
    assert (source.info.num_train, source.info.num_eval) == (150, 30)
    train_x, train_y = source.arrays("train")
    eval_x, eval_y = source.arrays("eval")
    np.testing.assert_array_equal(np.concatenate([train_x, eval_x]), x)
    np.testing.assert_array_equal(np.concatenate([train_y, eval_y]), y)
    test = source.test_arrays()
    np.testing.assert_array_equal(test[0], x_test)
    np.testing.assert_array_equal(test[1], y_test)
    batches = source.make("eval", 16, training=False)
    np.testing.assert_array_equal(np.concatenate([b.numpy() for _, b in batches]), eval_y)
    # Without a hold-out the eval split is the test set.
    plain = MNIST1DDataset(str(tmp_path), num_train=180, num_eval=20)
    np.testing.assert_array_equal(plain.arrays("eval")[1], y_test)


@pytest.mark.parametrize("validation", [-1, 180, 200])
def test_bad_validation(tmp_path, validation):
    with pytest.raises(ValueError, match="validation"):
        MNIST1DDataset(str(tmp_path), num_train=180, num_eval=20, validation=validation)
