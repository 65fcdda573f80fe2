"""``tf.data`` steps shared by the dataset sources: split names, sharding, seeds, batching.

Every source builds its pipeline from these pieces so that they all behave alike: one input
pipeline per worker (:func:`shard`), per-element random seeds derived from the ``make`` seed
(:func:`with_seeds`, so that random crops repeat exactly with the same seed and change every
epoch), and :func:`finish`, which batches, augments training batches, normalises and prefetches.

Example:
    >>> context = tf.distribute.InputContext(num_input_pipelines=2, input_pipeline_id=1)
    >>> [int(i) for i in shard(tf.data.Dataset.range(10), context)]
    [1, 3, 5, 7, 9]
    >>> source = lbkeras.data.SyntheticDataset(input_shape=(2,), num_classes=3)
    >>> examples = tf.data.Dataset.from_tensor_slices((tf.zeros((10, 2)), tf.range(10) % 3))
    >>> batches = finish(shard(examples, context), source, 2, training=True, seed=0)
    >>> [tuple(x.shape) for x, _ in batches]  # 5 examples: the last partial batch is dropped
    [(2, 2), (2, 2)]
"""

from __future__ import annotations

from collections.abc import Callable

import tensorflow as tf

from lbkeras.checks import check_int
from lbkeras.data import augment as augment_lib
from lbkeras.data.base import SPLITS, Dataset

AUTOTUNE = tf.data.AUTOTUNE


def check_split(split: str) -> str:
    """``split`` after checking it is "train" or "eval"."""
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; choose one of: {SPLITS}")
    return split


def pipeline_position(input_context: tf.distribute.InputContext | None) -> tuple[int, int]:
    """``(num_input_pipelines, input_pipeline_id)``; ``(1, 0)`` without an input context."""
    if input_context is None:
        return 1, 0
    return input_context.num_input_pipelines, input_context.input_pipeline_id


def shard(ds: tf.data.Dataset, input_context: tf.distribute.InputContext | None) -> tf.data.Dataset:
    """Keeps this input pipeline's share of ``ds``: every n-th element, from its id."""
    num_pipelines, pipeline_id = pipeline_position(input_context)
    if num_pipelines > 1:
        ds = ds.shard(num_pipelines, pipeline_id)
    return ds


def shard_size(num_examples: int, input_context: tf.distribute.InputContext | None) -> int:
    """How many of ``num_examples`` :func:`shard` keeps for this input pipeline."""
    num_pipelines, pipeline_id = pipeline_position(input_context)
    return len(range(pipeline_id, num_examples, num_pipelines))


def drops_remainder(training: bool, drop_remainder: bool | None) -> bool:
    """Whether a pipeline drops its last partial batch: ``drop_remainder``, by default
    when ``training``."""
    return training if drop_remainder is None else bool(drop_remainder)


def check_batch_size(batch_size: int, num_examples: int, drop_remainder: bool, what: str) -> int:
    """``batch_size`` after checking a pipeline of ``num_examples`` that drops its last
    partial batch yields one."""
    check_int("batch_size", batch_size, positive=True)
    if drop_remainder and batch_size > num_examples:
        raise ValueError(
            f"batch_size {batch_size} is larger than the {num_examples} {what} of this input "
            "pipeline: training drops the last partial batch, so no batch would be produced"
        )
    return batch_size


def with_seeds(ds: tf.data.Dataset, seed: int | None, salt: int) -> tf.data.Dataset:
    """Pairs every element of ``ds`` with a stateless-RNG seed (an int64 ``[2]`` tensor).

    The seeds repeat for the same ``seed`` and change every time the dataset is iterated
    (every epoch). ``salt`` tells apart the streams of different consumers of one ``seed``.
    """
    seeds = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True).map(
        lambda value: tf.stack([value, tf.constant(salt, tf.int64)])
    )
    return tf.data.Dataset.zip(ds, seeds)


def finish(
    ds: tf.data.Dataset,
    source: Dataset,
    batch_size: int,
    *,
    training: bool,
    seed: int | None,
    batch_fn: Callable[..., tuple[tf.Tensor, tf.Tensor]] | None = None,
    normalize_fn: Callable[[tf.Tensor], tf.Tensor] | None = None,
    drop_remainder: bool | None = None,
) -> tf.data.Dataset:
    """Batches ``(features, label)`` elements and readies them for ``model.fit``.

    In order: batch (dropping the remainder if ``drop_remainder``, by default when
    training), ``batch_fn`` (e.g. a gather from a
    pool), the source's augmentation (training only), one-hot labels for soft-label sources in
    evaluation too, ``normalize_fn`` on the features (after augmentation, which works in [0, 1]),
    float32/int32 casts, prefetch.
    """
    ds = ds.batch(
        batch_size,
        drop_remainder=drops_remainder(training, drop_remainder),
        num_parallel_calls=AUTOTUNE,
    )
    if batch_fn is not None:
        ds = ds.map(batch_fn, num_parallel_calls=AUTOTUNE)
    num_classes = source.info.num_classes
    if training and source.augment is not None:
        ds = augment_lib.augment_batches(ds, source.augment, num_classes, seed)
    elif source.soft_labels:
        ds = ds.map(lambda x, y: (x, tf.one_hot(y, num_classes)), num_parallel_calls=AUTOTUNE)

    def cast(features: tf.Tensor, labels: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        features = tf.cast(features, tf.float32)
        if normalize_fn is not None:
            features = normalize_fn(features)
        labels = tf.cast(labels, tf.float32 if source.soft_labels else tf.int32)
        return features, labels

    return ds.map(cast, num_parallel_calls=AUTOTUNE).prefetch(AUTOTUNE)
