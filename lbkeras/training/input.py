"""The trainer's input: the distributed training stream and eval set of a prepared run.

Each input pipeline (one per worker) reads its share of the global batches: the
training stream from the step the run resumes at, at the batch of each stage of the
plan (:func:`lbkeras.data.stream.staged_stream`: step ``k`` is a function of the seed
and the examples before it, so a resumed run reads what an uninterrupted one would),
and the eval split in batches that give every replica of the
pipeline the same number of non-empty batches
(:func:`lbkeras.training.plan.eval_batch_size`). Labels become one-hot for label
smoothing.

Example:
    >>> import tempfile
    >>> from lbkeras.training import ExperimentConfig, prepare
    >>> prepared = prepare(ExperimentConfig(model_dir=tempfile.mkdtemp(), model="mlp",
    ...     dataset="synthetic", dataset_options={"input_shape": [4], "num_classes": 2,
    ...     "num_train": 64, "num_eval": 10}, global_batch_size=16, epochs=1,
    ...     warmup_epochs=0.5))
    >>> train_data, eval_data = input_data(prepared)
    >>> [int(x.shape[0]) for x, _ in train_data], [int(x.shape[0]) for x, _ in eval_data]
    ([16, 16, 16, 16], [10])
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import tensorflow as tf

from lbkeras.data import pipeline, stream
from lbkeras.training.plan import eval_batch_size

if TYPE_CHECKING:
    from lbkeras.training.experiment import Prepared


def input_data(prepared: Prepared) -> tuple[Any, Any]:
    """The distributed training stream (from the loop the run resumes at) and eval set."""
    strategy = prepared.strategy
    return (
        strategy.distribute_datasets_from_function(_train_input(prepared)),
        strategy.distribute_datasets_from_function(_eval_input(prepared)),
    )


def _train_input(prepared: Prepared):
    """The training stream of one input pipeline, from the loop the run resumes at."""
    config, steps = prepared.config, prepared.plan

    def dataset_fn(input_context: tf.distribute.InputContext) -> tf.data.Dataset:
        ds = stream.staged_stream(
            prepared.source,
            steps.input_stages,
            seed=config.seed,
            start_step=steps.fit_steps_before(prepared.initial_loop),
            input_context=input_context,
        )
        return _labels(ds, prepared)

    return dataset_fn


def _eval_input(prepared: Prepared):
    """The eval split of one input pipeline, in batches every replica gets alike."""

    def dataset_fn(input_context: tf.distribute.InputContext) -> tf.data.Dataset:
        batch = eval_batch_size(
            pipeline.shard_size(prepared.source.info.num_eval, input_context),
            input_context.get_per_replica_batch_size(prepared.config.global_batch_size),
            input_context.num_replicas_in_sync // input_context.num_input_pipelines,
        )
        ds = prepared.source.make("eval", batch, training=False, input_context=input_context)
        return _labels(ds, prepared)

    return dataset_fn


def _labels(ds: tf.data.Dataset, prepared: Prepared) -> tf.data.Dataset:
    """One-hot labels for label smoothing (soft-label sources have them already)."""
    if not prepared.one_hot or prepared.source.soft_labels:
        return ds
    num_classes = prepared.source.info.num_classes
    return ds.map(lambda x, y: (x, tf.one_hot(y, num_classes)), num_parallel_calls=tf.data.AUTOTUNE)
