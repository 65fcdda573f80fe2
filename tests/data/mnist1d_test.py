"""MNIST-1D generation and its on-disk cache."""

import os

import numpy as np
import pytest

from lbkeras.data import load_mnist1d


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
