"""Random images and labels, for measuring throughput without reading data.

A small pool of random examples (``pool_size``, 32 by default: 19 MB at 224x224x3) is drawn
once from ``data_seed``; example ``i`` of a split is pool entry ``i % pool_size``. The pipeline
is the real one in miniature: example indices are sharded, shuffled and batched, and each batch
gathers its examples from the pool, so memory stays tiny while every step still moves a full
batch through ``tf.data``. The train and eval pools differ.

Sharding: in-memory; each input pipeline keeps every n-th example index (``ds.shard``).

Example:
    >>> source = SyntheticDataset(input_shape=(224, 224, 3), num_classes=1000)
    >>> ds = source.make("train", 256, training=True, seed=0)
"""

from __future__ import annotations

from collections.abc import Sequence

import tensorflow as tf

from lbkeras.checks import check_int
from lbkeras.data import pipeline
from lbkeras.data.base import Dataset, DatasetInfo, check_augment

SHUFFLE_BUFFER = 10_000


class SyntheticDataset(Dataset):
    """Uniform random features in [0, 1) and uniform random labels.

    Args:
        data_dir: unused (every source takes it).
        input_shape: the shape of one example.
        num_classes: labels are drawn from ``0 .. num_classes - 1``.
        num_train: examples per training epoch (ImageNet's by default).
        num_eval: examples in the eval split.
        pool_size: distinct random examples per split.
        data_seed: the seed of the pools (``make``'s seed only orders them).
        augment: None, "mixup", "cutmix" or "randaugment" (image shapes ``(h, w, c)`` only).
    """

    def __init__(
        self,
        data_dir: str | None = None,
        input_shape: Sequence[int] = (224, 224, 3),
        num_classes: int = 1000,
        num_train: int = 1_281_167,
        num_eval: int = 50_000,
        pool_size: int = 32,
        data_seed: int = 0,
        augment: str | None = None,
    ) -> None:
        del data_dir
        input_shape = tuple(check_int("input_shape", d, positive=True) for d in input_shape)
        self.augment = check_augment(augment)
        if self.augment is not None and len(input_shape) != 3:
            raise ValueError(f"augment={augment!r} needs images (h, w, c), not {input_shape}")
        self.info = DatasetInfo(
            name="synthetic",
            num_classes=check_int("num_classes", num_classes, positive=True),
            input_shape=input_shape,
            num_train=check_int("num_train", num_train, positive=True),
            num_eval=check_int("num_eval", num_eval, positive=True),
        )
        self.pool_size = check_int("pool_size", pool_size, positive=True)
        self.data_seed = check_int("data_seed", data_seed)

    def pool(self, split: str) -> tuple[tf.Tensor, tf.Tensor]:
        """The ``(features, labels)`` pool of ``split``: float32 and int32 tensors."""
        salt = 0 if pipeline.check_split(split) == "train" else 2
        size = min(self.pool_size, self._num_examples(split))
        features = tf.random.stateless_uniform(
            (size, *self.info.input_shape), seed=[self.data_seed, salt]
        )
        labels = tf.random.stateless_uniform(
            [size], seed=[self.data_seed, salt + 1], maxval=self.info.num_classes, dtype=tf.int32
        )
        return features, labels

    def _num_examples(self, split: str) -> int:
        return self.info.num_train if split == "train" else self.info.num_eval

    def make(
        self,
        split: str,
        batch_size: int,
        *,
        training: bool,
        input_context: tf.distribute.InputContext | None = None,
        seed: int | None = None,
        drop_remainder: bool | None = None,
    ) -> tf.data.Dataset:
        """Batches of ``split``; see :meth:`lbkeras.data.Dataset.make`."""
        num_examples = self._num_examples(pipeline.check_split(split))
        size = pipeline.shard_size(num_examples, input_context)
        pipeline.check_batch_size(
            batch_size, size, pipeline.drops_remainder(training, drop_remainder), "examples"
        )
        features, labels = self.pool(split)
        ds = pipeline.shard(tf.data.Dataset.range(num_examples), input_context)
        if training:
            ds = ds.shuffle(min(size, SHUFFLE_BUFFER), seed=seed, reshuffle_each_iteration=True)

        def gather(indices: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
            in_pool = indices % labels.shape[0]
            return tf.gather(features, in_pool), tf.gather(labels, in_pool)

        return pipeline.finish(
            ds,
            self,
            batch_size,
            training=training,
            seed=seed,
            drop_remainder=drop_remainder,
            batch_fn=gather,
        )
