"""The ``tfds:NAME`` source on a tiny TFDS dataset prepared offline in a temporary folder."""

import numpy as np
import pytest
import tensorflow_datasets as tfds

from lbkeras import data
from lbkeras.data.tfds import TFDSDataset
from tests.data.common import batches, colour_id, concat, constant_image, context

NUM_TRAIN, NUM_TEST = 10, 4


class TinyImages(tfds.core.GeneratorBasedBuilder, skip_registration=True):
    """8x8 images of one colour each (colour ``10 * (i + 1)``, +100 in "test"), 3 classes."""

    VERSION = tfds.core.Version("1.0.0")
    # tensorflow-datasets 4.9.10 looks up checksums through `code_path`, which needs the
    # `importlib_resources` backport on Python >= 3.9; no code path: no checksums, no backport.
    code_path = None

    def _info(self):
        features = tfds.features.FeaturesDict(
            {
                "image": tfds.features.Image(shape=(8, 8, 3)),
                "label": tfds.features.ClassLabel(num_classes=3),
            }
        )
        return tfds.core.DatasetInfo(builder=self, features=features)

    def _split_generators(self, dl_manager):
        return {
            "train": self._generate_examples(NUM_TRAIN, 0),
            "test": self._generate_examples(NUM_TEST, 100),
        }

    def _generate_examples(self, count, offset):
        for i in range(count):
            yield i, {"image": constant_image(offset + 10 * (i + 1), 8, 8), "label": i % 3}


@pytest.fixture(scope="module")
def tfds_dir(tmp_path_factory):
    data_dir = str(tmp_path_factory.mktemp("tfds"))
    tfds.disable_progress_bar()
    TinyImages(data_dir=data_dir).download_and_prepare()
    return data_dir


def test_info_shapes_and_values(tfds_dir):
    source = data.get("tfds:tiny_images", data_dir=tfds_dir)
    assert isinstance(source, TFDSDataset)
    assert source.info == data.DatasetInfo("tfds:tiny_images", 3, (8, 8, 3), NUM_TRAIN, NUM_TEST)
    train = batches(source.make("train", 4, training=True, seed=0))
    assert [x.shape for x, _ in train] == [(4, 8, 8, 3)] * 2
    assert train[0][0].dtype == np.float32 and train[0][1].dtype == np.int32
    x, y = concat(source.make("train", 1, training=True, seed=0))
    ids = colour_id(x)
    assert sorted(ids) == [10 * (i + 1) for i in range(NUM_TRAIN)]
    np.testing.assert_array_equal(y, (ids // 10 - 1) % 3)
    np.testing.assert_allclose(x[0], constant_image(ids[0], 8, 8) / 255.0, rtol=1e-6)


def test_eval_keeps_the_stored_order(tfds_dir):
    source = data.get("tfds:tiny_images", data_dir=tfds_dir)
    stored = [e["image"][0, 0, 0] for e in tfds.as_numpy(source.builder.as_dataset("test"))]
    x, _ = concat(source.make("eval", 3, training=False, seed=1))
    assert list(colour_id(x)) == stored and len(stored) == NUM_TEST


def test_seed_repeats_the_order(tfds_dir):
    source = data.get("tfds:tiny_images", data_dir=tfds_dir)
    order = [
        list(colour_id(concat(source.make("train", 2, training=True, seed=s))[0]))
        for s in (3, 3, 4)
    ]
    assert order[0] == order[1] != order[2]


def test_two_pipelines_get_disjoint_shards_covering_the_data(tfds_dir):
    source = data.get("tfds:tiny_images", data_dir=tfds_dir)
    shards = [
        set(
            colour_id(
                concat(source.make("train", 1, training=True, input_context=context(i), seed=0))[0]
            )
        )
        for i in range(2)
    ]
    assert len(shards[0]) == len(shards[1]) == 5 and not shards[0] & shards[1]
    assert shards[0] | shards[1] == {10 * (i + 1) for i in range(NUM_TRAIN)}


def test_image_size_crops_and_normalize(tfds_dir):
    source = data.get("tfds:tiny_images", data_dir=tfds_dir, image_size=6, normalize=True)
    assert source.info.input_shape == (6, 6, 3)
    x, _ = next(iter(source.make("eval", 4, training=False)))
    assert x.shape == (4, 6, 6, 3)
    stored = next(iter(tfds.as_numpy(source.builder.as_dataset("test"))))["image"][0, 0] / 255.0
    expected = (stored - [0.485, 0.456, 0.406]) / [0.229, 0.224, 0.225]
    np.testing.assert_allclose(x[0], np.broadcast_to(expected, (6, 6, 3)), rtol=1e-5, atol=1e-5)


def test_not_prepared_and_unknown_datasets(tfds_dir, tmp_path):
    with pytest.raises(
        ValueError, match=f"'mnist' is not prepared in data_dir {tmp_path}.*tfds build mnist"
    ):
        data.get("tfds:mnist", data_dir=str(tmp_path))
    with pytest.raises(ValueError, match="'no_such_data' is not prepared.*knows no such dataset"):
        data.get("tfds:no_such_data", data_dir=str(tmp_path))
    with pytest.raises(ValueError, match="has no feature 'pixels'"):
        data.get("tfds:tiny_images", data_dir=tfds_dir, image_key="pixels")
