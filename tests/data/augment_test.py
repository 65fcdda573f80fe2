"""MixUp and CutMix against what they must do to images and labels; RandAugment runs."""

import numpy as np
import tensorflow as tf

from lbkeras.data import augment

NUM_CLASSES = 8


def _batch(batch=8, size=10):
    """Images of one value each (10, 20, ...), labels 0..batch-1 (one-hot)."""
    values = 10.0 * np.arange(1, batch + 1, dtype=np.float32)
    images = np.broadcast_to(values[:, None, None, None], (batch, size, size, 3)).copy()
    return tf.constant(images), tf.one_hot(np.arange(batch), NUM_CLASSES), values


def _partner_and_weight(labels, index):
    """The partner class and its weight in row ``index`` of soft labels (0 when unmixed)."""
    row = labels[index].copy()
    own = row[index]
    row[index] = 0
    return int(np.argmax(row)), 1.0 - own


def test_mixup_mixes_images_and_labels_alike():
    images, labels, values = _batch()
    mixed, soft = (t.numpy() for t in augment.mixup(images, labels, tf.constant([1, 2])))
    np.testing.assert_allclose(soft.sum(axis=1), 1.0, rtol=1e-6)
    for i in range(len(values)):
        partner, weight = _partner_and_weight(soft, i)
        expected = (1 - weight) * values[i] + weight * values[partner]
        np.testing.assert_allclose(mixed[i], expected, rtol=1e-5)
    assert np.count_nonzero(soft.max(axis=1) < 0.999) >= 2  # something was mixed


def test_cutmix_pastes_a_box_whose_area_weights_the_labels():
    images, labels, values = _batch(size=12)
    cut, soft = (t.numpy() for t in augment.cutmix(images, labels, tf.constant([3, 4])))
    pasted_any = False
    for i in range(len(values)):
        partner, weight = _partner_and_weight(soft, i)
        pasted = cut[i, :, :, 0] != values[i]
        assert set(np.unique(cut[i])) <= {values[i], values[partner]}
        np.testing.assert_allclose(pasted.mean(), weight, atol=1e-6)
        if pasted.any():
            pasted_any = True
            rows, cols = np.flatnonzero(pasted.any(1)), np.flatnonzero(pasted.any(0))
            assert pasted.sum() == len(rows) * len(cols)  # a rectangle
            assert np.ptp(rows) + 1 == len(rows) and np.ptp(cols) + 1 == len(cols)
    assert pasted_any


def test_same_seed_same_result():
    images, labels, _ = _batch()
    for mix in (augment.mixup, augment.cutmix):
        a = mix(images, labels, tf.constant([5, 6]))
        b = mix(images, labels, tf.constant([5, 6]))
        c = mix(images, labels, tf.constant([5, 7]))
        np.testing.assert_array_equal(a[0].numpy(), b[0].numpy())
        assert not np.array_equal(a[1].numpy(), c[1].numpy())


def test_augment_batches_is_repeatable_per_seed_and_varies_per_epoch():
    images, _, _ = _batch(batch=16)
    ds = tf.data.Dataset.from_tensor_slices((images, np.arange(16) % NUM_CLASSES)).batch(8)
    first, again = (augment.augment_batches(ds, "mixup", NUM_CLASSES, 1) for _ in range(2))
    epoch1, epoch2 = ([y.numpy() for _, y in first] for _ in range(2))
    assert epoch1[0].shape == (8, NUM_CLASSES) and not np.array_equal(epoch1[0], epoch2[0])
    np.testing.assert_array_equal(epoch1, [y.numpy() for _, y in again])


def test_randaugment_keeps_shape_range_and_integer_labels():
    images = tf.random.stateless_uniform((4, 8, 8, 3), seed=[0, 1])
    ds = tf.data.Dataset.from_tensors((images, tf.constant([0, 1, 2, 3])))
    augmented = augment.augment_batches(ds, "randaugment", NUM_CLASSES, seed=0)
    options = tf.data.Options()
    options.experimental_optimization.apply_default_optimizations = False  # saves ~1.5 s here
    x, y = next(iter(augmented.with_options(options)))
    assert x.shape == (4, 8, 8, 3) and 0 <= float(tf.reduce_min(x)) <= float(tf.reduce_max(x)) <= 1
    np.testing.assert_array_equal(y.numpy(), [0, 1, 2, 3])
    assert not np.allclose(x.numpy(), images.numpy())
