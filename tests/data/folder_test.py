"""The class-per-folder source on tiny generated images of one colour each."""

import os

import numpy as np
import pytest
import tensorflow as tf

from lbkeras.data.folder import FolderDataset
from tests.data.common import batches, colour_id, concat, constant_image, context, unnormalize

# class -> colour values of its images; PNG keeps colours exact, so the colour names the image
TRAIN = {"cat": [10, 20, 30], "dog": [40, 50], "emu": [60, 70, 80, 90]}
EVAL = {"cat": [110], "emu": [120, 130]}


def _write(split_dir, classes):
    for name, values in classes.items():
        os.makedirs(os.path.join(split_dir, name))
        for value in values:
            png = tf.io.encode_png(constant_image(value, 20, 30)).numpy()
            with open(os.path.join(split_dir, name, f"img{value}.PNG"), "wb") as f:
                f.write(png)


@pytest.fixture(scope="module")
def folder_dir(tmp_path_factory):
    data_dir = str(tmp_path_factory.mktemp("folder"))
    _write(os.path.join(data_dir, "train"), TRAIN)
    _write(os.path.join(data_dir, "val"), EVAL)
    with open(os.path.join(data_dir, "train", "cat", "notes.txt"), "w") as f:
        f.write("not an image")
    return data_dir


def _ids(ds):
    x, y = concat(ds)
    return colour_id(unnormalize(x)), y


def test_classes_labels_and_counts(folder_dir):
    source = FolderDataset(folder_dir, image_size=8)
    assert source.class_names == ["cat", "dog", "emu"]
    assert (source.info.num_classes, source.info.num_train, source.info.num_eval) == (3, 9, 3)
    assert source.info.input_shape == (8, 8, 3)
    train = batches(source.make("train", 4, training=True, seed=0))
    assert [x.shape for x, _ in train] == [(4, 8, 8, 3)] * 2
    assert train[0][0].dtype == np.float32 and train[0][1].dtype == np.int32
    ids, labels = _ids(source.make("train", 1, training=True, seed=0))
    label_of = {v: label for label, values in enumerate(TRAIN.values()) for v in values}
    assert sorted(ids) == sorted(label_of) and [label_of[i] for i in ids] == list(labels)


def test_eval_is_sorted_and_unshuffled(folder_dir):
    ids, labels = _ids(FolderDataset(folder_dir, image_size=8).make("eval", 2, training=False))
    assert list(ids) == [110, 120, 130] and list(labels) == [0, 2, 2]


def test_seed_repeats_the_order(folder_dir):
    source = FolderDataset(folder_dir, image_size=8)
    first = _ids(source.make("train", 3, training=True, seed=4))[0]
    assert list(first) == list(_ids(source.make("train", 3, training=True, seed=4))[0])
    assert list(first) != list(_ids(source.make("train", 3, training=True, seed=5))[0])


def test_two_pipelines_get_disjoint_shards_covering_the_data(folder_dir):
    source = FolderDataset(folder_dir, image_size=8)
    shards = [
        set(_ids(source.make("train", 1, training=True, input_context=context(i), seed=0))[0])
        for i in range(2)
    ]
    assert not shards[0] & shards[1] and len(shards[0]) == 5
    assert shards[0] | shards[1] == {v for values in TRAIN.values() for v in values}


def test_missing_folders(tmp_path):
    with pytest.raises(ValueError, match="data_dir is required"):
        FolderDataset()
    with pytest.raises(ValueError, match=f"{tmp_path}/train does not exist.*<class>"):
        FolderDataset(str(tmp_path))
    _write(os.path.join(str(tmp_path), "train"), {"cat": [1]})
    source = FolderDataset(str(tmp_path))
    with pytest.raises(ValueError, match=f"no eval images: {tmp_path}/val"):
        source.make("eval", 1, training=False)
    _write(os.path.join(str(tmp_path), "val"), {"cow": [2]})
    with pytest.raises(ValueError, match="class folders \\['cow'\\] that the train folder lacks"):
        FolderDataset(str(tmp_path))


def test_a_broken_image_names_its_file(tmp_path):
    _write(os.path.join(str(tmp_path), "train"), {"cat": [1]})
    broken = os.path.join(str(tmp_path), "train", "cat", "broken.jpg")
    with open(broken, "wb") as f:
        f.write(b"\x00 not a jpeg")
    source = FolderDataset(str(tmp_path), image_size=8)
    with pytest.raises(tf.errors.InvalidArgumentError, match=f"(?s)not a JPEG or PNG.*{broken}"):
        concat(source.make("train", 1, training=True, seed=0))
