"""Batch augmentations for image training pipelines: MixUp, CutMix, RandAugment.

They run on batches of float images in [0, 1] (before normalisation), training only.

* MixUp and CutMix are written here with stateless TensorFlow ops, a few lines each, and not
  taken from keras-cv: ``keras_cv.layers.MixUp``/``CutMix`` (the keras-cv of requirements.txt)
  work with Keras 3 but draw their mixing weights with unseeded ``tf.random.gamma``, so two runs
  with the same seed differ. Here every batch gets its own seed from the ``make`` seed: bitwise
  repeatable. As in keras-cv, each example gets its own weight and is mixed with a random
  partner from its batch. Both return one-hot float32 labels: train with
  ``CategoricalCrossentropy``.
* RandAugment is ``keras_cv.layers.RandAugment`` with its defaults (Cubuk et al.; keras-cv: 3
  random operations per image, each applied with probability 10/11, magnitude 0.5 +- 0.15 of
  the maximum). It keeps the integer labels. Its random state is a
  ``tf.random.Generator`` variable read by parallel map calls, so it is seeded but NOT bitwise
  repeatable; tracing its graph takes ~10 s once per pipeline.

References:
    Zhang et al., "mixup: Beyond Empirical Risk Minimization", ICLR 2018.
    Yun et al., "CutMix: Regularization Strategy to Train Strong Classifiers with Localizable
    Features", ICCV 2019.
    Cubuk et al., "RandAugment: Practical automated data augmentation with a reduced search
    space", NeurIPS Workshops 2020.

Example:
    >>> images = tf.stack([tf.zeros((4, 4, 3)), tf.ones((4, 4, 3))])
    >>> mixed, labels = mixup(images, tf.one_hot([0, 1], 10), seed=tf.constant([1, 2]))
    >>> mixed.shape, labels.shape
    (TensorShape([2, 4, 4, 3]), TensorShape([2, 10]))
    >>> pixel = mixed[:, 0, 0, 0]  # the weight of the all-ones image, as in the labels
    >>> np.allclose(pixel, labels[:, 1]), np.allclose(tf.reduce_sum(labels, 1), 1)
    (True, True)
"""

from __future__ import annotations

import tensorflow as tf

from lbkeras.data.base import check_augment


def _beta(shape: tf.Tensor, alpha: float, seed: tf.Tensor) -> tf.Tensor:
    """Beta(alpha, alpha) samples, as a ratio of two Gamma(alpha) samples."""
    seeds = tf.random.experimental.stateless_split(seed, num=2)
    a = tf.random.stateless_gamma(shape, seeds[0], alpha)
    b = tf.random.stateless_gamma(shape, seeds[1], alpha)
    return a / (a + b)


def _partners(batch: tf.Tensor, seed: tf.Tensor) -> tf.Tensor:
    """A random permutation of ``range(batch)``: the example each one is mixed with."""
    return tf.argsort(tf.random.stateless_uniform([batch], seed))


def mixup(
    images: tf.Tensor, labels: tf.Tensor, seed: tf.Tensor, alpha: float = 0.2
) -> tuple[tf.Tensor, tf.Tensor]:
    """MixUp: ``lam * x + (1 - lam) * x[partner]``, the same mixture for the one-hot labels.

    Args:
        images: float ``(batch, ...)``.
        labels: one-hot float ``(batch, num_classes)``.
        seed: a ``[2]`` stateless seed.
        alpha: ``lam ~ Beta(alpha, alpha)``, one per example.
    """
    seeds = tf.random.experimental.stateless_split(seed, num=2)
    batch = tf.shape(images)[0]
    partners = _partners(batch, seeds[0])
    lam = _beta([batch], alpha, seeds[1])
    image_lam = tf.reshape(lam, [-1] + [1] * (images.shape.rank - 1))
    images = image_lam * images + (1.0 - image_lam) * tf.gather(images, partners)
    labels = lam[:, None] * labels + (1.0 - lam[:, None]) * tf.gather(labels, partners)
    return images, labels


def cutmix(
    images: tf.Tensor, labels: tf.Tensor, seed: tf.Tensor, alpha: float = 1.0
) -> tuple[tf.Tensor, tf.Tensor]:
    """CutMix: pastes a box of the partner image; labels mix by the pasted area.

    The box has area ``1 - lam`` of the image (``lam ~ Beta(alpha, alpha)``) and a uniform
    centre; clipped at the border, its true area sets the label weights.

    Args:
        images: float ``(batch, height, width, channels)``.
        labels: one-hot float ``(batch, num_classes)``.
        seed: a ``[2]`` stateless seed.
        alpha: the Beta parameter (1: uniform box area).
    """
    seeds = tf.random.experimental.stateless_split(seed, num=4)
    shape = tf.shape(images)
    batch, height, width = shape[0], shape[1], shape[2]
    partners = _partners(batch, seeds[0])
    ratio = tf.sqrt(1.0 - _beta([batch], alpha, seeds[1]))

    def inside(size: tf.Tensor, size_seed: tf.Tensor) -> tf.Tensor:
        """``(batch, size)``: whether each row (column) index lies in each example's box."""
        half = tf.cast(ratio * tf.cast(size, tf.float32), tf.int32) // 2
        centre = tf.random.stateless_uniform([batch], size_seed, 0, size, dtype=tf.int32)
        start, stop = centre - half, centre + half
        index = tf.range(size)[None, :]
        return (index >= start[:, None]) & (index < stop[:, None])

    box = inside(height, seeds[2])[:, :, None] & inside(width, seeds[3])[:, None, :]
    images = tf.where(box[..., None], tf.gather(images, partners), images)
    pasted = tf.reduce_mean(tf.cast(box, labels.dtype), axis=[1, 2])[:, None]
    labels = (1.0 - pasted) * labels + pasted * tf.gather(labels, partners)
    return images, labels


def augment_batches(
    ds: tf.data.Dataset, augment: str, num_classes: int, seed: int | None
) -> tf.data.Dataset:
    """Applies ``augment`` ("mixup", "cutmix" or "randaugment") to batched ``(images, labels)``.

    Images must be float in [0, 1]. MixUp and CutMix return one-hot float32 labels.
    """
    augment = check_augment(augment)
    if augment == "randaugment":
        import keras_cv  # imported here: it is slow to import and only this option needs it

        layer = keras_cv.layers.RandAugment(value_range=(0, 1), seed=seed)
        return ds.map(
            lambda x, y: (layer(x, training=True), y), num_parallel_calls=tf.data.AUTOTUNE
        )
    mix = mixup if augment == "mixup" else cutmix
    seeds = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True).batch(2)

    def apply(batch: tuple[tf.Tensor, tf.Tensor], batch_seed: tf.Tensor):
        images, labels = batch
        return mix(tf.cast(images, tf.float32), tf.one_hot(labels, num_classes), batch_seed)

    return tf.data.Dataset.zip(ds, seeds).map(apply, num_parallel_calls=tf.data.AUTOTUNE)
