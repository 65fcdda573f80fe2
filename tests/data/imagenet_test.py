"""The ImageNet TFRecord source on tiny generated shards (32x24 JPEGs, image_size 16 or 14)."""

import os

import numpy as np
import pytest
import tensorflow as tf

from lbkeras.data.imagenet import ImageNetDataset
from tests.data.common import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    batches,
    concat,
    context,
    example,
    unnormalize,
    write_imagenet,
    write_records,
)


@pytest.fixture(scope="module")
def imagenet_dir(tmp_path_factory):
    data_dir = str(tmp_path_factory.mktemp("imagenet"))
    return data_dir, write_imagenet(data_dir)  # 4 train files x 3, 2 validation files x 3


def _source(data_dir, **options):
    return ImageNetDataset(data_dir, **{"image_size": 16, "num_classes": 40, **options})


def test_info_counts_and_batches(imagenet_dir):
    data_dir, _ = imagenet_dir
    source = _source(data_dir, num_train=None, num_eval=None)
    assert (source.info.num_train, source.info.num_eval) == (12, 6)
    assert source.info.input_shape == (16, 16, 3) and source.info.num_classes == 40
    assert _source(data_dir).info.num_train == 1_281_167
    train = batches(source.make("train", 5, training=True, seed=0))
    assert [x.shape for x, _ in train] == [(5, 16, 16, 3)] * 2  # 12 = 5 + 5 + 2 dropped
    assert train[0][0].dtype == np.float32 and train[0][1].dtype == np.int32
    assert [len(y) for _, y in batches(source.make("eval", 4, training=False))] == [4, 2]
    x, _ = concat(source.make("train", 4, training=True, seed=0))
    images = unnormalize(x)
    assert images.min() >= -1e-5 and images.max() <= 1 + 1e-5 and images.std() > 0.1


def test_labels_are_offset_and_eval_is_in_file_order(imagenet_dir):
    data_dir, stored = imagenet_dir
    expected = [label for name in sorted(stored) if "validation" in name for label in stored[name]]
    _, labels = concat(_source(data_dir).make("eval", 4, training=False, seed=5))
    np.testing.assert_array_equal(labels, np.array(expected) - 1)
    raw = _source(data_dir, label_offset=0).make("eval", 4, training=False)
    np.testing.assert_array_equal(concat(raw)[1], expected)


def test_eval_preprocessing_matches_numpy(imagenet_dir):
    data_dir, _ = imagenet_dir
    first = os.path.join(data_dir, "validation-00000-of-00002")
    record = next(iter(tf.data.TFRecordDataset(first)))
    encoded = tf.io.parse_single_example(
        record, {"image/encoded": tf.io.FixedLenFeature([], tf.string)}
    )["image/encoded"]
    decoded = tf.io.decode_jpeg(encoded).numpy()  # 32x24: shorter side 24 = 21 / 0.875 -> as is
    x, _ = next(iter(_source(data_dir, image_size=21).make("eval", 1, training=False)))
    expected = (decoded[5:26, 1:22] / 255.0 - IMAGENET_MEAN) / IMAGENET_STD
    np.testing.assert_allclose(x[0], expected, rtol=1e-5, atol=1e-5)


def test_seed_repeats_crops_and_order(imagenet_dir):
    data_dir, _ = imagenet_dir
    source = _source(data_dir)
    x1, y1 = concat(source.make("train", 3, training=True, seed=1))
    x2, y2 = concat(source.make("train", 3, training=True, seed=1))
    np.testing.assert_array_equal(x1, x2)
    np.testing.assert_array_equal(y1, y2)
    x3, _ = concat(source.make("train", 3, training=True, seed=2))
    assert not np.array_equal(x1, x3)


def test_two_pipelines_read_disjoint_files(imagenet_dir):
    data_dir, stored = imagenet_dir
    source = _source(data_dir)
    files = [source.files("train", context(i)) for i in range(2)]
    assert not set(files[0]) & set(files[1])
    assert sorted(files[0] + files[1]) == sorted(
        os.path.join(data_dir, n) for n in stored if n.startswith("train")
    )
    for i in range(2):
        _, labels = concat(source.make("train", 1, training=True, input_context=context(i), seed=0))
        expected = [label - 1 for f in files[i] for label in stored[os.path.basename(f)]]
        assert sorted(labels) == sorted(expected)


def test_mixup_gives_one_hot_soft_labels(imagenet_dir):
    data_dir, _ = imagenet_dir
    source = _source(data_dir, augment="mixup")
    assert source.soft_labels
    _, labels = next(iter(source.make("train", 4, training=True, seed=0)))
    assert labels.shape == (4, 40) and labels.dtype == tf.float32
    _, eval_labels = concat(source.make("eval", 6, training=False))
    np.testing.assert_array_equal(eval_labels.argmax(axis=1), [0, 1, 2, 10, 11, 12])


def test_missing_dir_and_files(tmp_path):
    missing = str(tmp_path / "imagenet")
    with pytest.raises(ValueError, match=f"{missing} does not exist.*train-\\*-of-\\*"):
        _source(missing).make("train", 2, training=True)
    with pytest.raises(ValueError, match="no files matching validation-\\*-of-\\*"):
        _source(str(tmp_path)).make("eval", 2, training=False)
    with pytest.raises(ValueError, match="data_dir is required"):
        ImageNetDataset().make("train", 2, training=True)


def test_corrupt_file_is_named(tmp_path):
    write_imagenet(str(tmp_path), num_train_files=3, num_eval_files=1, per_file=1)
    bad = os.path.join(str(tmp_path), "train-00001-of-00003")
    with open(bad, "wb") as f:
        f.write(np.random.default_rng(0).bytes(200))
    with pytest.raises(ValueError, match=f"corrupt TFRecord file {bad}: corrupted record"):
        _source(str(tmp_path)).make("train", 1, training=True)


def test_records_without_the_features_or_with_bad_images_are_named(tmp_path):
    write_imagenet(str(tmp_path), num_train_files=2, num_eval_files=1, per_file=1)
    bad = write_records(os.path.join(str(tmp_path), "train-00001-of-00002"), [b"not an example"])
    with pytest.raises(ValueError, match=f"corrupt TFRecord file {bad}"):
        _source(str(tmp_path)).make("train", 1, training=True)
    write_records(bad, [example(b"not an image", 1)])
    with pytest.raises(ValueError, match=f"(?s)corrupt TFRecord file {bad}: .*not a JPEG or PNG"):
        _source(str(tmp_path)).make("train", 1, training=True)


def test_out_of_range_label_names_its_file(imagenet_dir):
    data_dir, _ = imagenet_dir
    source = _source(data_dir, num_classes=12, check_files=False)
    with pytest.raises(tf.errors.InvalidArgumentError, match="(?s)out of range.*validation-00001"):
        concat(source.make("eval", 6, training=False))
