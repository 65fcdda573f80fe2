"""Sharpness-aware minimisation (Foret et al. 2021): a keras.Model whose fit takes SAM steps.

Large batches tend to land in sharp minima (Keskar et al. 2017). SAM looks for
parameters whose whole neighbourhood has a low loss: each step it moves the weights
uphill, to ``w + e`` with ``e = rho * g / ||g||``, takes the gradient there, and steps
the optimizer from ``w`` with that gradient. It costs a second forward and backward
pass per step.
"""

from __future__ import annotations

from typing import Any

import keras
from keras import ops

from lbkeras.checks import check_float


def sam_perturbation(gradients: list, rho: float) -> list:
    """``e = rho * g / ||g||``, with ``||g||`` the global norm over all ``gradients``.

    A ``None`` gradient (a variable the loss does not reach) stays ``None``; all-zero
    gradients give ``e = 0``.
    """
    present = [ops.convert_to_tensor(g) for g in gradients if g is not None]
    norm = ops.sqrt(sum(ops.sum(ops.square(ops.cast(g, "float32"))) for g in present))
    scale = ops.where(norm > 0, rho / ops.maximum(norm, 1e-30), 0.0)
    return [
        None if g is None else ops.convert_to_tensor(g) * ops.cast(scale, g.dtype)
        for g in gradients
    ]


@keras.saving.register_keras_serializable(package="lbkeras")
class SAMModel(keras.Model):
    """A ``keras.Model`` whose ``fit`` takes sharpness-aware (SAM) steps.

    Each training step, on the batch ``(x, y)`` and the weights ``w`` (all trainable
    variables):

    1. the loss and its gradient ``g`` at ``w`` (metrics, the reported loss and
       non-trainable updates such as batch-norm statistics come from this pass);
    2. ``e = rho * g / ||g||``, ``||g||`` the global norm over all trainable variables;
    3. the gradient ``g_sam`` of the same loss at ``w + e`` (a pass without side effects:
       the weights are never changed, the model is called on ``w + e`` through a
       ``keras.StatelessScope``);
    4. the optimizer steps from ``w`` with ``g_sam``.

    Under a ``tf.distribute`` strategy ``g`` is each replica's own gradient, not the
    all-reduced one, so each replica perturbs towards its own part of the batch, and the
    optimizer all-reduces the replicas' ``g_sam``: the "m-sharpness" of the paper, with
    ``m`` the per-replica batch, which it found to generalise better than the global
    perturbation. On one device ``m`` is the batch.

    Backends: TensorFlow (graph, XLA and ``tf.distribute``, tested on 2 logical CPUs) and
    JAX (one device; under a ``keras.distribution`` the gradient, hence ``e``, is global).

    Build it like a functional ``keras.Model`` (``SAMModel(inputs, outputs, rho=0.05)``),
    subclass it, or turn an existing functional model into one with :func:`with_sam`.
    It saves and loads like any model, ``rho`` included.

    Args:
        *args: the ``keras.Model`` arguments, e.g. ``inputs, outputs``.
        rho: the radius of the neighbourhood; 0.05 in the paper; 0 is plain training
            at the cost of SAM.
        **kwargs: the ``keras.Model`` keyword arguments, e.g. ``name``.

    References:
        Foret, Kleiner, Mobahi, Neyshabur, "Sharpness-Aware Minimization for Efficiently
        Improving Generalization", ICLR 2021.

    Example:
        >>> inputs = keras.Input((784,))
        >>> outputs = keras.layers.Dense(10)(keras.layers.Dense(128, "relu")(inputs))
        >>> model = SAMModel(inputs, outputs, rho=0.05)
        >>> model.compile(optimizer=keras.optimizers.SGD(0.1, momentum=0.9), loss="mse")
    """

    def __init__(self, *args: Any, rho: float = 0.05, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.rho = check_float("rho", rho)

    def train_step(self, *args):
        # TensorFlow's trainer calls train_step(data), JAX's train_step(state, data).
        backend = keras.backend.backend()
        if backend == "tensorflow":
            return self._tf_train_step(*args)
        if backend == "jax":
            return self._jax_train_step(*args)
        raise NotImplementedError(
            f"SAMModel supports the tensorflow and jax backends, not {backend}"
        )

    def _forward(self, x):
        return self(x, training=True) if self._call_has_training_arg else self(x)

    def _tf_train_step(self, data):
        import tensorflow as tf  # only on this backend: JAX-only machines have no TensorFlow

        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        variables = self.trainable_variables
        with tf.GradientTape() as tape:
            y_pred = self._forward(x)
            loss = self.compute_loss(x=x, y=y, y_pred=y_pred, sample_weight=sample_weight)
            # As Keras's train_step: the tracked loss undoes the 1 / replicas scaling.
            replicas = tf.distribute.get_replica_context().num_replicas_in_sync
            batch = tf.shape(next(i for i in keras.tree.flatten(x) if i is not None))[0]
            self._loss_tracker.update_state(loss * replicas, sample_weight=batch)
            loss = self.optimizer.scale_loss(loss)
        # In a replica context, tape gradients are the replica's own: m-sharpness.
        perturbation = sam_perturbation(tape.gradient(loss, variables), self.rho)
        perturbed = [
            ops.convert_to_tensor(v) if e is None else ops.convert_to_tensor(v) + e
            for v, e in zip(variables, perturbation)
        ]
        with tf.GradientTape() as tape:
            tape.watch(perturbed)
            mapping = list(zip(variables, perturbed))
            with keras.StatelessScope(state_mapping=mapping, collect_losses=True):
                sharp_pred = self._forward(x)
                sharp_loss = self.compute_loss(
                    x=x, y=y, y_pred=sharp_pred, sample_weight=sample_weight
                )
            sharp_loss = self.optimizer.scale_loss(sharp_loss)
        self.optimizer.apply(tape.gradient(sharp_loss, perturbed), variables)
        return self.compute_metrics(x, y, y_pred, sample_weight=sample_weight)

    def _jax_train_step(self, state, data):
        import jax  # only on this backend

        trainable, non_trainable, optimizer_variables, metrics_variables = state
        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        grad_fn = jax.value_and_grad(self.compute_loss_and_updates, has_aux=True)

        def loss_and_gradients(weights, non_trainable, metrics_variables):
            return grad_fn(
                *(weights, non_trainable, metrics_variables, x, y, sample_weight),
                training=True,
                optimizer_variables=optimizer_variables,
            )

        (_, aux), grads = loss_and_gradients(trainable, non_trainable, metrics_variables)
        loss, y_pred, non_trainable, metrics_variables = aux
        perturbed = [w + e for w, e in zip(trainable, sam_perturbation(grads, self.rho))]
        # The second pass's updates (non-trainable and metrics variables) are dropped.
        _, sharp_grads = loss_and_gradients(perturbed, non_trainable, metrics_variables)
        trainable, optimizer_variables = self.optimizer.stateless_apply(
            optimizer_variables, sharp_grads, trainable
        )
        logs, metrics_variables = self._update_metrics_variables(
            metrics_variables, loss, x, y, y_pred, sample_weight
        )
        return logs, (trainable, non_trainable, optimizer_variables, metrics_variables)

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config["rho"] = self.rho
        return config


def with_sam(model: keras.Model, rho: float = 0.05) -> SAMModel:
    """A ``SAMModel`` on ``model``'s graph: the same layers, hence the same weights.

    ``model`` must be functional (or a ``Sequential`` built with an ``Input``); it is
    not changed, and the result must be compiled.

    Example:
        >>> model = lbkeras.models.get("mlp", input_shape=(4,), num_classes=2, hidden_units=(8,))
        >>> sam = with_sam(model, rho=0.05)
        >>> type(sam).__name__, sam.rho, sam.weights[0] is model.weights[0]
        ('SAMModel', 0.05, True)
    """
    try:
        if isinstance(model, keras.Sequential):  # one input and one output, as lists
            (inputs,), (outputs,) = model.inputs, model.outputs
        else:
            inputs, outputs = model.input, model.output
    except AttributeError as error:
        raise ValueError(
            f"with_sam needs a functional model (or a Sequential built with keras.Input); "
            f"{model.name!r} has no graph of layers. Build one: inputs = keras.Input(shape); "
            f"SAMModel(inputs, model(inputs), rho={rho})"
        ) from error
    return SAMModel(inputs=inputs, outputs=outputs, rho=rho, name=model.name)
