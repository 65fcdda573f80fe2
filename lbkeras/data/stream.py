"""The training input as one stream of passes: epochs are passes over the data.

``Dataset.make("train", ...)`` yields one shuffled pass. Training on ``floor(N / B)``
batches per pass drops up to ``B - 1`` examples every pass (at batch 8192 on
MNIST-1D's 16,000 examples, 49% of them). :func:`training_stream` instead chains
passes ``0, 1, 2, ...``, each shuffled from its own seed and kept whole, and cuts
batches across the boundaries, so that over ``E`` passes every example is seen ``E``
times (give or take one at the ends). Batch ``k`` is a function of ``(seed, k)``
alone, so a run resumed at batch ``k`` sees exactly the batches an uninterrupted one
would: the stream starts at the pass that holds batch ``k``, skipping whole passes
without reading them.

With one pipeline per worker, each pipeline streams its own shard of every pass. For
sources that shard by example after a shuffle every worker does alike (MNIST-1D,
synthetic), global batch ``k`` then holds the same examples whatever the worker
count, as long as the worker count divides the number of examples.

Example:
    >>> source = lbkeras.data.get("synthetic", input_shape=(4,), num_classes=2,
    ...                           num_train=10, num_eval=4)
    >>> batches = training_stream(source, 4, seed=0, start_batch=0, num_batches=5)
    >>> [int(x.shape[0]) for x, _ in batches]  # 20 examples: two whole passes
    [4, 4, 4, 4, 4]
"""

from __future__ import annotations

import math

import tensorflow as tf

from lbkeras.checks import check_int
from lbkeras.data import pipeline
from lbkeras.data.base import Dataset

#: Seeds of successive passes: pass ``p`` of a run seeded ``s`` is shuffled with
#: ``s * PASS_SEED_STRIDE + p``, so runs with neighbouring seeds share no pass.
PASS_SEED_STRIDE = 1_000_003


def pass_seed(seed: int, index: int) -> int:
    """The shuffling seed of pass ``index`` of a run seeded ``seed``."""
    return seed * PASS_SEED_STRIDE + index


def training_stream(
    source: Dataset,
    batch_size: int,
    *,
    seed: int,
    start_batch: int,
    num_batches: int,
    input_context: tf.distribute.InputContext | None = None,
) -> tf.data.Dataset:
    """Batches ``start_batch .. start_batch + num_batches - 1`` of the training stream.

    Args:
        source: the dataset source.
        batch_size: this input pipeline's batch (per worker).
        seed: the run's seed; pass ``p`` is shuffled with :func:`pass_seed`.
        start_batch: the first batch (where a resumed run continues).
        num_batches: how many batches; the dataset ends after them.
        input_context: this pipeline's place among the input pipelines.
    """
    check_int("batch_size", batch_size, positive=True)
    check_int("start_batch", start_batch)
    check_int("num_batches", num_batches)
    pass_size = pipeline.shard_size(source.info.num_train, input_context)
    first_pass, offset = divmod(start_batch * batch_size, pass_size)
    end_pass = math.ceil((start_batch + num_batches) * batch_size / pass_size)

    def one_pass(index: int) -> tf.data.Dataset:
        return source.make(
            "train",
            batch_size,
            training=True,
            input_context=input_context,
            seed=pass_seed(seed, index),
            drop_remainder=False,
        )

    passes = range(first_pass, max(end_pass, first_pass + 1))
    if pass_size % batch_size == 0:  # passes end on batch boundaries: no re-batching
        ds = _chain(one_pass(p) for p in passes).skip(offset // batch_size)
    else:
        ds = _chain(one_pass(p).unbatch() for p in passes).skip(offset)
        ds = ds.batch(batch_size, drop_remainder=True, num_parallel_calls=pipeline.AUTOTUNE)
    # A known length lets Keras end a shorter last epoch before asking for a batch more
    # (when the input runs out inside a step, the Keras of requirements.txt counts one
    # optimizer step too many).
    ds = ds.take(num_batches).apply(tf.data.experimental.assert_cardinality(num_batches))
    return ds.prefetch(pipeline.AUTOTUNE)


def _chain(datasets) -> tf.data.Dataset:
    datasets = list(datasets)
    out = datasets[0]
    for ds in datasets[1:]:
        out = out.concatenate(ds)
    return out
