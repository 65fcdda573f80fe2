"""The standard ResNet/ImageNet image preprocessing, from encoded JPEG or PNG bytes.

Training: a random-resized crop (Szegedy et al.) drawn with
``tf.image.stateless_sample_distorted_bounding_box`` (``area_range=(0.08, 1)``, aspect ratio
3/4-4/3, and ``min_object_covered=0.1`` as in TensorFlow's official ResNet, so in effect 10%-100%
of the image; the whole image when 10 attempts fail), resized to ``image_size`` and flipped
left-right with probability 1/2. JPEGs decode only the crop window
(``decode_and_crop_jpeg``). Evaluation: the shorter side resized to ``image_size / 0.875``
(256 for 224) and the central ``image_size`` square cropped. Both return float32 in [0, 1];
:func:`normalize` (ImageNet mean/std) comes after batching and augmentation. Resizing is
bilinear (half-pixel centres). The ``imagenet``, ``folder`` and ``tfds`` sources share these.

References:
    Szegedy et al., "Going Deeper with Convolutions", CVPR 2015 (random-resized crops).
    He et al., "Deep Residual Learning for Image Recognition", CVPR 2016.
    Goyal et al., "Accurate, Large Minibatch SGD: Training ImageNet in 1 Hour", 2017.

Example:
    >>> jpeg = tf.io.encode_jpeg(tf.fill((300, 400, 3), tf.constant(255, tf.uint8)))
    >>> image = preprocess_for_train(jpeg, 224, seed=tf.constant([0, 1]))
    >>> image.shape, float(tf.reduce_max(image))
    (TensorShape([224, 224, 3]), 1.0)
    >>> preprocess_for_eval(jpeg, 224).shape
    TensorShape([224, 224, 3])
"""

from __future__ import annotations

import tensorflow as tf

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
EVAL_CROP_FRACTION = 0.875
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def check_image_bytes(image_bytes: tf.Tensor, source: tf.Tensor | str) -> tf.Tensor:
    """``image_bytes`` after asserting it starts like a JPEG or PNG; the error names ``source``.

    TensorFlow's own decode errors do not say which file held the bad image; this one does.
    """
    is_image = tf.io.is_jpeg(image_bytes) | tf.equal(
        tf.strings.substr(image_bytes, 0, len(PNG_SIGNATURE)), PNG_SIGNATURE
    )
    check = tf.debugging.Assert(is_image, ["not a JPEG or PNG image, in file:", source])
    with tf.control_dependencies([check]):
        return tf.identity(image_bytes)


def random_crop_window(image_shape: tf.Tensor, seed: tf.Tensor) -> tf.Tensor:
    """A random-resized-crop window ``[offset_y, offset_x, height, width]`` (int32).

    Args:
        image_shape: ``[height, width, channels]`` of the whole image.
        seed: a ``[2]`` stateless seed.
    """
    begin, size, _ = tf.image.stateless_sample_distorted_bounding_box(
        image_shape,
        bounding_boxes=tf.constant([[[0.0, 0.0, 1.0, 1.0]]]),
        seed=seed,
        min_object_covered=0.1,
        aspect_ratio_range=(3 / 4, 4 / 3),
        area_range=(0.08, 1.0),
        max_attempts=10,
    )
    return tf.stack([begin[0], begin[1], size[0], size[1]])


def _decode(image_bytes: tf.Tensor, channels: int) -> tf.Tensor:
    return tf.io.decode_image(image_bytes, channels=channels, expand_animations=False)


def preprocess_for_train(
    image_bytes: tf.Tensor, image_size: int, seed: tf.Tensor, channels: int = 3
) -> tf.Tensor:
    """Random-resized crop and random flip: float32 ``(image_size, image_size, channels)``."""
    crop_seed, flip_seed = tf.unstack(tf.random.experimental.stateless_split(seed, num=2))

    def jpeg() -> tf.Tensor:
        window = random_crop_window(tf.image.extract_jpeg_shape(image_bytes), crop_seed)
        return tf.image.decode_and_crop_jpeg(image_bytes, window, channels=channels)

    def other() -> tf.Tensor:
        image = _decode(image_bytes, channels)
        y, x, height, width = tf.unstack(random_crop_window(tf.shape(image), crop_seed))
        return image[y : y + height, x : x + width]

    image = tf.cond(tf.io.is_jpeg(image_bytes), jpeg, other)
    image = tf.image.resize(image, [image_size, image_size])
    image = tf.image.stateless_random_flip_left_right(image, flip_seed)
    return tf.ensure_shape(image / 255.0, [image_size, image_size, channels])


def preprocess_for_eval(image_bytes: tf.Tensor, image_size: int, channels: int = 3) -> tf.Tensor:
    """Shorter side to ``image_size / 0.875``, central square crop: float32 in [0, 1]."""
    image = _decode(image_bytes, channels)
    shape = tf.cast(tf.shape(image)[:2], tf.float32)
    scale = (image_size / EVAL_CROP_FRACTION) / tf.reduce_min(shape)
    resized = tf.maximum(tf.cast(tf.round(shape * scale), tf.int32), image_size)
    image = tf.image.resize(image, resized)
    top, left = tf.unstack((resized - image_size) // 2)
    image = image[top : top + image_size, left : left + image_size]
    return tf.ensure_shape(image / 255.0, [image_size, image_size, channels])


def preprocess(
    image_bytes: tf.Tensor, image_size: int, *, training: bool, seed: tf.Tensor, channels: int = 3
) -> tf.Tensor:
    """:func:`preprocess_for_train` when ``training``, else :func:`preprocess_for_eval`."""
    if training:
        return preprocess_for_train(image_bytes, image_size, seed, channels)
    return preprocess_for_eval(image_bytes, image_size, channels)


def normalize(images: tf.Tensor) -> tf.Tensor:
    """``(images - mean) / std`` per channel, ImageNet statistics, for images in [0, 1]."""
    return (images - tf.constant(IMAGENET_MEAN)) / tf.constant(IMAGENET_STD)
