"""The one place where lbkeras works around upstream Keras/TensorFlow bugs.

Under any ``tf.distribute`` strategy, Keras 3 ``fit`` starts with
``TensorFlowTrainer._maybe_symbolic_build``, which pulls one batch from the epoch
iterator only to learn the input specs, even when everything is already built. With
``steps_per_epoch`` the iterator lives across epochs, so that batch is lost: a
distributed run trains on the data shifted by one batch against a single-device run
(and against itself after a resume). Fix: :func:`prebuild` builds the compiled model
from the dataset's element spec before ``fit``, and the patched
``_maybe_symbolic_build`` leaves the iterator alone when nothing is left to build.

Keras 3 ``model.fit`` under ``MultiWorkerMirroredStrategy`` is broken upstream
(keras-team/keras#20585) in two more spots of ``keras/src/backend/tensorflow/trainer.py``:

1. ``TensorFlowTrainer._maybe_symbolic_build`` takes the first distributed batch and
   ``strategy.reduce("MEAN", batch)``-s it only to learn the input shapes and dtypes
   for the symbolic build. In multi-worker mode that reduction is a cross-worker
   collective on a ``PerReplica`` batch outside a ``tf.function`` and fails
   ("Attempt to convert a value (PerReplica...) to a Tensor"). Fix: use this
   worker's first local replica batch; only its spec is read.
2. ``reduce_per_replica`` reduces every output of the train step with
   ``strategy.reduce("MEAN", v, axis=0)`` in multi-worker mode; the outputs are
   scalar metrics, which have no axis 0. Fix: reduce scalars with ``axis=None``
   (the mean over replicas, as on one worker).

A fourth bug is not about multi-worker runs: Keras 3 creates ``BatchNormalization``'s
moving statistics with aggregation "none", so under any ``MirroredStrategy`` the
replicas' copies of them drift apart (each replica updates its own), evaluation runs
each replica with its own copy, and the saved model holds replica 0's. Fix: create them
with aggregation "mean" (tf.keras 2's choice), so every update is averaged over the
replicas (:func:`lbkeras.layers.ghost_batch_norm.averaged_moving_statistics`).

:func:`apply` patches all four, once, and only for the Keras versions they were
verified against (``TESTED_KERAS``); with a newer Keras it leaves Keras alone and
warns, so a fixed upstream is never patched blindly. The multi-worker test
(``tests/distribute/multi_worker_trainer_test.py``) shows whether the patch is still needed.
"""

from __future__ import annotations

import functools
import logging

import keras

#: Keras versions (major, minor) on which the multi-worker patches were verified.
TESTED_KERAS = ((3, 10), (3, 15))

_applied = False


def _keras_version() -> tuple[int, int]:
    major, minor = keras.__version__.split(".")[:2]
    return int(major), int(minor)


def needs_multi_worker_fix(version: tuple[int, int] | None = None) -> bool:
    """Whether this Keras version is one with the known multi-worker ``fit`` bugs."""
    version = version or _keras_version()
    return TESTED_KERAS[0] <= version <= TESTED_KERAS[1]


def apply() -> bool:
    """Patches Keras for multi-worker ``fit`` and averaged batch-norm statistics; returns
    whether it did."""
    global _applied
    if _applied:
        return True
    if keras.backend.backend() != "tensorflow":
        return False
    if not needs_multi_worker_fix():
        logging.warning(
            "lbkeras: Keras %s is newer than the versions its multi-worker fit patch was verified "
            "on (up to %d.%d); not patching. If multi-worker fit fails, see "
            "lbkeras/distribute/keras_compat.py.",
            keras.__version__,
            *TESTED_KERAS[1],
        )
        return False

    import tensorflow as tf
    from keras.src.backend.tensorflow import trainer as tf_trainer

    original_reduce = tf_trainer.reduce_per_replica
    original_build = tf_trainer.TensorFlowTrainer._maybe_symbolic_build

    @functools.wraps(original_reduce)
    def reduce_per_replica(values, strategy, reduction):
        if reduction in ("auto", "mean") and tf_trainer._collective_all_reduce_multi_worker(
            strategy
        ):

            def _reduce(v):
                if v.shape.rank == 0:
                    return strategy.reduce("MEAN", v, axis=None)
                return original_reduce(v, strategy, reduction)

            return tf.nest.map_structure(_reduce, values)
        return original_reduce(values, strategy, reduction)

    @functools.wraps(original_build)
    def maybe_symbolic_build(self, iterator=None, data_batch=None):
        strategy = self._distribute_strategy
        if iterator is not None and strategy is not None and _fully_built(self):
            return  # nothing to build: do not consume a batch of the training data
        if (
            iterator is not None
            and strategy is not None
            and tf_trainer._collective_all_reduce_multi_worker(strategy)
        ):
            for _, _, it in iterator:
                batch = next(it)
                data_batch = tf.nest.map_structure(
                    lambda v: (
                        strategy.experimental_local_results(v)[0]
                        if isinstance(v, tf.distribute.DistributedValues)
                        else v
                    ),
                    batch,
                )
                break
            return original_build(self, data_batch=data_batch)
        return original_build(self, iterator=iterator, data_batch=data_batch)

    tf_trainer.reduce_per_replica = reduce_per_replica
    tf_trainer.TensorFlowTrainer._maybe_symbolic_build = maybe_symbolic_build
    _average_batch_norm_statistics()
    _applied = True
    return True


def _average_batch_norm_statistics() -> None:
    """``BatchNormalization`` layers built from now on average their moving statistics."""
    from lbkeras.layers.ghost_batch_norm import averaged_moving_statistics

    batch_norm = keras.layers.BatchNormalization
    original_add_weight = batch_norm.add_weight

    @functools.wraps(original_add_weight)
    def add_weight(self, *args, **kwargs):
        return original_add_weight(self, *args, **averaged_moving_statistics(kwargs))

    batch_norm.add_weight = add_weight


def _fully_built(model) -> bool:
    """Whether ``fit``'s symbolic build would have nothing left to build."""
    return (
        all(layer.built for layer in model._flatten_layers())
        and (model._compile_metrics is None or model._compile_metrics.built)
        and (model._compile_loss is None or model._compile_loss.built)
        and (model.optimizer is None or model.optimizer.built)
    )


def prebuild(model, element_spec) -> None:
    """Builds a compiled ``model`` (metrics, loss, optimizer) from a dataset's element spec.

    Call it inside the strategy's scope, before ``fit``, with the (per-replica)
    ``element_spec`` of the training data; then ``fit`` consumes no batch for the
    symbolic build (see the module docstring).
    """
    import tensorflow as tf

    def local(spec):  # a PerReplicaSpec (several local replicas, or multi-worker)
        value_specs = getattr(spec, "_value_specs", None)
        return value_specs[0] if value_specs else spec

    model._symbolic_build(data_batch=tf.nest.map_structure(local, element_spec))
