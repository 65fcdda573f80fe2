"""ResNet preprocessing against NumPy: crop windows, central crops, flips, normalisation."""

import numpy as np
import pytest
import tensorflow as tf

from lbkeras.data import preprocessing
from tests.data.common import IMAGENET_MEAN, IMAGENET_STD, constant_image


def _png(image):
    return tf.io.encode_png(image)


def test_random_crop_windows_have_the_documented_area_and_aspect():
    height, width = 120, 200
    for seed in range(40):
        y, x, h, w = preprocessing.random_crop_window(
            tf.constant([height, width, 3]), tf.constant([seed, 0])
        ).numpy()
        assert y >= 0 and y + h <= height and x >= 0 and x + w <= width
        assert 0.1 - 0.02 <= h * w / (height * width) <= 1.0
        assert 3 / 4 - 0.05 <= w / h <= 4 / 3 + 0.05  # up to rounding to whole pixels


def test_eval_crop_without_resizing_is_the_central_square():
    image = np.random.default_rng(0).integers(0, 256, (16, 24, 3), dtype=np.uint8)
    # image_size 14: shorter side 14 / 0.875 = 16 already, central 14x14 is rows 1..14, cols 5..18
    out = preprocessing.preprocess_for_eval(_png(image), 14).numpy()
    np.testing.assert_allclose(out, image[1:15, 5:19] / 255.0, rtol=1e-6)


def test_eval_crop_after_halving_is_the_central_square_of_2x2_means():
    image = np.random.default_rng(1).integers(0, 256, (32, 48, 3), dtype=np.uint8)
    halved = image.astype(np.float64).reshape(16, 2, 24, 2, 3).mean(axis=(1, 3))
    out = preprocessing.preprocess_for_eval(_png(image), 14).numpy()
    np.testing.assert_allclose(out, halved[1:15, 5:19] / 255.0, rtol=1e-5)


@pytest.mark.parametrize("encode", [tf.io.encode_png, tf.io.encode_jpeg])
def test_train_crop_of_a_constant_image_is_that_colour(encode):
    image = constant_image(200)
    out = preprocessing.preprocess_for_train(encode(image), 10, tf.constant([1, 2])).numpy()
    assert out.shape == (10, 10, 3) and out.dtype == np.float32
    np.testing.assert_allclose(out, np.broadcast_to(image[0, 0] / 255.0, out.shape), atol=0.02)


def test_train_preprocessing_is_seeded_and_flips_half_the_time():
    image = np.zeros((20, 20, 3), np.uint8)
    image[:, 10:] = 255  # dark left half, bright right half: a flip swaps them
    data = _png(image)

    def left_is_dark(seed):
        out = preprocessing.preprocess_for_train(data, 8, tf.constant([seed, 0])).numpy()
        assert out.min() >= 0 and out.max() <= 1
        return out[:, 0].mean() < out[:, -1].mean()

    outcomes = [left_is_dark(seed) for seed in range(16)]
    assert 3 <= sum(outcomes) <= 13
    a = preprocessing.preprocess_for_train(data, 8, tf.constant([4, 0]))
    np.testing.assert_array_equal(
        a, preprocessing.preprocess_for_train(data, 8, tf.constant([4, 0]))
    )


def test_normalize_uses_the_imagenet_statistics():
    images = np.random.default_rng(2).uniform(size=(2, 3, 3, 3)).astype(np.float32)
    np.testing.assert_allclose(
        preprocessing.normalize(images), (images - IMAGENET_MEAN) / IMAGENET_STD, rtol=1e-5
    )


def test_bad_image_bytes_name_their_file():
    preprocessing.check_image_bytes(_png(constant_image(1)), "ok.png")
    with pytest.raises(tf.errors.InvalidArgumentError, match="(?s)not a JPEG or PNG.*broken.jpg"):
        preprocessing.check_image_bytes(tf.constant(b"\x00garbage"), "broken.jpg")
