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
from collections.abc import Sequence

import tensorflow as tf

from lbkeras.checks import check_int
from lbkeras.data import pipeline
from lbkeras.data.base import Dataset
from lbkeras.schedules.batch_size.base import Stage

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
    ds = _batches(source, batch_size, seed, start_batch * batch_size, num_batches, input_context)
    return _finish(ds, num_batches)


def staged_stream(
    source: Dataset,
    stages: Sequence[Stage],
    *,
    seed: int,
    start_step: int = 0,
    input_context: tf.distribute.InputContext | None = None,
) -> tf.data.Dataset:
    """The training stream under a batch-size schedule, from optimizer step ``start_step``.

    ``stages`` are the run's (:meth:`lbkeras.schedules.batch_size.BatchSizeSchedule.stages`):
    each step of a stage takes the next ``batch_size`` examples (the global batch) of the
    same stream of passes as :func:`training_stream`, so step ``k`` holds the examples
    ``[e_k, e_k + B_k)`` for ``e_k`` the examples before it: a function of the seed and
    ``e_k`` alone, and a run resumed at any step (also inside a stage, or at a change)
    reads what an uninterrupted one would. With one constant stage the batches are
    :func:`training_stream`'s.

    This pipeline yields one batch per replica it feeds (``B_k / replicas`` examples),
    ``replicas / pipelines`` of them per step; every global batch must split over the
    replicas (the schedule's ``multiple_of``).

    Example:
        >>> from lbkeras.schedules.batch_size import RampBatchSize
        >>> source = lbkeras.data.get("synthetic", input_shape=(4,), num_classes=2,
        ...                           num_train=16, num_eval=4)
        >>> stages = RampBatchSize(2, 8, ramp_examples=8, doubling=True).stages(32)
        >>> [int(x.shape[0]) for x, _ in staged_stream(source, stages, seed=0)]
        [2, 2, 4, 8, 8, 8]
        >>> [int(x.shape[0]) for x, _ in staged_stream(source, stages, seed=0, start_step=3)]
        [8, 8, 8]

    Raises:
        ValueError: ``start_step`` past the last stage, or a batch that does not split
            over the replicas.
    """
    start_step = check_int("start_step", start_step)
    replicas = input_context.num_replicas_in_sync if input_context else 1
    pipelines = input_context.num_input_pipelines if input_context else 1
    end = stages[-1].end_step if stages else 0
    if start_step > end:
        raise ValueError(f"start_step={start_step} is past the run's last step ({end})")
    parts, total = [], 0
    for stage in stages:
        if stage.end_step <= start_step:
            continue
        if stage.batch_size % replicas:
            raise ValueError(
                f"the global batch {stage.batch_size} does not split over {replicas} replicas: "
                "make every batch of the schedule a multiple of the replicas"
            )
        batch = stage.batch_size // replicas
        per_step = replicas // pipelines  # this pipeline's batches per step
        first = max(stage.first_step, start_step)
        examples = stage.first_example + (first - stage.first_step) * stage.batch_size
        count = (stage.end_step - first) * per_step
        parts.append(_batches(source, batch, seed, examples // pipelines, count, input_context))
        total += count
    if not parts:  # a finished run: nothing left to read
        parts = [_batches(source, 1, seed, 0, 0, input_context)]
    return _finish(_chain(parts), total)


def _batches(
    source: Dataset,
    batch_size: int,
    seed: int,
    first_example: int,
    num_batches: int,
    input_context: tf.distribute.InputContext | None,
) -> tf.data.Dataset:
    """``num_batches`` batches of ``batch_size`` of this pipeline's stream of passes, from
    its example ``first_example`` on."""
    pass_size = pipeline.shard_size(source.info.num_train, input_context)
    first_pass, offset = divmod(first_example, pass_size)
    end_pass = math.ceil((first_example + num_batches * batch_size) / pass_size)

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
    if pass_size % batch_size == 0 and offset % batch_size == 0:
        # passes end on batch boundaries: no re-batching
        ds = _chain(one_pass(p) for p in passes).skip(offset // batch_size)
    else:
        ds = _chain(one_pass(p).unbatch() for p in passes).skip(offset)
        ds = ds.batch(batch_size, drop_remainder=True, num_parallel_calls=pipeline.AUTOTUNE)
    return ds.take(num_batches)


def _finish(ds: tf.data.Dataset, num_batches: int) -> tf.data.Dataset:
    # A known length lets Keras end a shorter last epoch before asking for a batch more
    # (when the input runs out inside a step, the Keras of requirements.txt counts one
    # optimizer step too many).
    ds = ds.apply(tf.data.experimental.assert_cardinality(num_batches))
    return ds.prefetch(pipeline.AUTOTUNE)


def _chain(datasets) -> tf.data.Dataset:
    datasets = list(datasets)
    out = datasets[0]
    for ds in datasets[1:]:
        out = out.concatenate(ds)
    return out
