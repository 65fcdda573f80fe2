"""Ghost batch normalisation (Hoffer, Hubara, Soudry 2017)."""

from __future__ import annotations

import keras
from keras import ops

from lbkeras.checks import check_int
from lbkeras.layers.sync_batch_norm import replace_batch_norms

MOVING_STATISTICS = ("moving_mean", "moving_variance", "moving_stddev")


def averaged_moving_statistics(add_weight_kwargs: dict) -> dict:
    """``add_weight`` arguments with the moving statistics averaged over replicas.

    Keras 3 (up to the Keras of requirements.txt) creates ``BatchNormalization``'s moving
    statistics with aggregation "none". Under ``MirroredStrategy`` each replica then
    updates its own copy of the mirrored variable: the copies drift apart, each replica
    evaluates with its own, and the saved model holds replica 0's. With aggregation "mean"
    (tf.keras 2's choice) every update is averaged over the replicas, so all copies agree.
    Used by :class:`GhostBatchNormalization` and, for ``BatchNormalization``, by
    ``lbkeras.distribute.keras_compat``.
    """
    if add_weight_kwargs.get("name") in MOVING_STATISTICS:
        return {**add_weight_kwargs, "aggregation": "mean"}
    return add_weight_kwargs


@keras.saving.register_keras_serializable(package="lbkeras")
class GhostBatchNormalization(keras.layers.BatchNormalization):
    """Batch normalisation with statistics over virtual batches inside a large batch.

    In training, a batch of ``B`` examples is split into ``B / virtual_batch_size``
    consecutive "ghost" batches; each is normalised with its own mean and variance.
    The moving statistics move towards the mean of the ghost means and variances.
    At inference the moving statistics are used, exactly as in ``BatchNormalization``.
    With ``virtual_batch_size`` equal to the batch (or None) the layer *is*
    ``BatchNormalization``. Large batches make batch statistics nearly noise-free;
    ghost batches of ~128 restore the regularising noise of small-batch training.

    Under ``tf.distribute`` each replica splits its own part of the batch, and the moving
    statistics are averaged over the replicas at every update (Keras's own
    ``BatchNormalization`` keeps replica 0's), so with the same global batch a run on N
    replicas equals a run on one device: ghost batches make batch norm independent of
    the device count (tested on 2 logical CPUs). That costs one small all-reduce per
    moving statistic per step.

    Keras has no ghost batch norm (``virtual_batch_size`` existed only in tf.keras 2).
    Channels-last only (``axis=-1``); ``synchronized`` and ``renorm`` are not supported,
    and the per-replica batch must be a multiple of ``virtual_batch_size``.

    Args:
        virtual_batch_size: examples per ghost batch, or None for plain batch norm.
        **kwargs: ``keras.layers.BatchNormalization`` arguments.

    References:
        Hoffer, Hubara, Soudry, "Train longer, generalize better: closing the
        generalization gap in large batch training of neural networks", NeurIPS 2017.

    Example:
        >>> layer = lbkeras.layers.GhostBatchNormalization(virtual_batch_size=4)
        >>> x = np.random.default_rng(0).normal(3.0, 2.0, size=(8, 5)).astype("float32")
        >>> y = keras.ops.convert_to_numpy(layer(x, training=True))  # 2 ghost batches of 4
        >>> np.allclose(y[:4].mean(0), 0, atol=1e-5), np.allclose(y[4:].std(0), 1, atol=1e-2)
        (True, True)
    """

    def __init__(self, virtual_batch_size: int | None = 128, **kwargs) -> None:
        if kwargs.get("axis", -1) not in (-1,):
            raise ValueError("GhostBatchNormalization supports axis=-1 (channels last) only")
        if kwargs.get("synchronized") or kwargs.get("renorm"):
            raise ValueError("GhostBatchNormalization supports neither synchronized nor renorm")
        if virtual_batch_size is not None:
            virtual_batch_size = check_int("virtual_batch_size", virtual_batch_size, positive=True)
        super().__init__(**kwargs)
        self.virtual_batch_size = virtual_batch_size

    def add_weight(self, *args, **kwargs):
        # The moving statistics are averaged over replicas at every update, so that all
        # copies agree and equal the one-device statistics.
        return super().add_weight(*args, **averaged_moving_statistics(kwargs))

    def call(self, inputs, training=None, mask=None):
        batch = inputs.shape[0]
        if (
            not (training and self.trainable)
            or self.virtual_batch_size is None
            or mask is not None
            or batch == self.virtual_batch_size
        ):
            return super().call(inputs, training=training, mask=mask)
        if batch is not None and batch % self.virtual_batch_size:
            raise ValueError(
                f"batch of {batch} is not a multiple of virtual_batch_size "
                f"{self.virtual_batch_size}"
            )
        x = ops.cast(inputs, keras.backend.result_type(inputs.dtype, "float32"))
        ghosts = ops.reshape(x, (-1, self.virtual_batch_size, *x.shape[1:]))
        axes = tuple(range(1, len(ghosts.shape) - 1))  # all but ghost index and channels
        mean = ops.mean(ghosts, axis=axes, keepdims=True)
        variance = ops.var(ghosts, axis=axes, keepdims=True)
        y = (ghosts - mean) * ops.rsqrt(variance + self.epsilon)
        if self.scale:
            y = y * ops.cast(self.gamma, y.dtype)
        if self.center:
            y = y + ops.cast(self.beta, y.dtype)
        channels = x.shape[-1]
        batch_mean = ops.mean(ops.reshape(mean, (-1, channels)), axis=0)
        batch_variance = ops.mean(ops.reshape(variance, (-1, channels)), axis=0)
        self.moving_mean.assign(
            self.moving_mean * self.momentum + batch_mean * (1.0 - self.momentum)
        )
        self.moving_variance.assign(
            self.moving_variance * self.momentum + batch_variance * (1.0 - self.momentum)
        )
        return ops.cast(ops.reshape(y, ops.shape(x)), self.compute_dtype)

    def get_config(self) -> dict:
        config = super().get_config()
        config["virtual_batch_size"] = self.virtual_batch_size
        return config


def use_ghost_batch_norm(model: keras.Model, virtual_batch_size: int) -> keras.Model:
    """A copy of a functional ``model`` whose BatchNormalization layers are ghost ones.

    Every ``keras.layers.BatchNormalization`` becomes a :class:`GhostBatchNormalization`
    with the same configuration and ``virtual_batch_size``; the weights are copied, so the
    copy computes what ``model`` computes at inference. This is how the trainer's
    ``--ghost_batch_size`` applies to any registered model.

    Example:
        >>> model = lbkeras.models.get(
        ...     "mlp", input_shape=(8,), num_classes=2, hidden_units=(16,), batch_norm=True)
        >>> ghost = use_ghost_batch_norm(model, 32)
        >>> [type(layer).__name__ for layer in ghost.layers if "Normal" in type(layer).__name__]
        ['GhostBatchNormalization']
    """

    def ghost(config: dict) -> GhostBatchNormalization:
        if config.pop("synchronized", False):
            raise ValueError(
                f"layer {config['name']}: synchronized batch norm cannot be made a ghost one"
            )
        return GhostBatchNormalization(virtual_batch_size=virtual_batch_size, **config)

    return replace_batch_norms(model, ghost)
