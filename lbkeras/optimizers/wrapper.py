"""What optimizer wrappers share: one Keras optimizer running inside another.

A wrapper turns any Keras optimizer into a large-batch one by transforming what
goes into its step (the gradient) or what comes out (the update), in the spirit
of optax's small composable transformations::

    TrustRatio(GradientNoise(keras.optimizers.SGD(0.1, momentum=0.9)))

How it plugs into Keras: ``Optimizer.apply`` filters and clips the gradients,
applies decoupled weight decay, then calls ``update_step(gradient, variable,
learning_rate)`` once per variable. Under ``tf.distribute`` that call runs inside
``distribution.extended.update``, once per replica's copy of the variable, with the
*all-reduced* gradient. A wrapper keeps this machinery and runs the wrapped
optimizer's ``update_step`` inside its own (the wrapped ``apply`` is never called),
so every transform sees the all-reduced gradient, on every replica alike. For the
wrapped optimizer to behave as if it ran alone, the wrapper

- shares its step counter and learning rate: a chain of wrappers advances one
  counter, once per step, and the wrapped optimizer's schedule and bias
  corrections read it;
- delegates gradient clipping (``clipnorm``, ``global_clipnorm``, ``clipvalue``)
  and decoupled weight decay (AdamW's ``weight_decay``, and
  ``exclude_from_weight_decay``) to the wrapped optimizer; Keras applies both before
  the per-variable steps;
- lists its own variables, then the wrapped optimizer's, as ``variables``, so
  ``model.save`` stores and ``keras.saving.load_model`` restores the whole chain.

Wrappers that watch the gradients (``lbkeras.monitoring.GradientStatistics``,
``AdaScale``) are observers (:class:`GradientObserver`). Wherever they sit in a chain, the
outermost wrapper shows each of them every replica's own gradient of every
micro-batch (before the all-reduce: the small-batch gradients) and then, once per
update, the all-reduced gradient and the all-reduced sums of what they measured
locally (the values ride along in the gradients' own all-reduce, so they cost no
collective of their own).

The wrapped optimizer must not use ``use_ema``, ``gradient_accumulation_steps`` or
``loss_scale_factor``, nor be a ``LossScaleOptimizer``: these live in ``apply``,
which a wrapper bypasses, so they raise an error instead of being ignored. (Under a
``mixed_float16`` policy Keras puts its ``LossScaleOptimizer`` *around* the
outermost wrapper, which works.)
"""

from __future__ import annotations

from typing import Any

import keras
from keras import ops

UNSUPPORTED_ON_WRAPPED = ("use_ema", "gradient_accumulation_steps", "loss_scale_factor")


def chain(optimizer: keras.optimizers.Optimizer) -> list[keras.optimizers.Optimizer]:
    """``optimizer`` and the ones it wraps, outermost first.

    Follows ``inner_optimizer``: through lbkeras wrappers and Keras's
    ``LossScaleOptimizer`` alike. The last one is the optimizer with the learning rate.

    Example:
        >>> from lbkeras.optimizers import GradientNoise, Lookahead, TrustRatio
        >>> optimizer = Lookahead(TrustRatio(keras.optimizers.SGD(0.1)))
        >>> [type(o).__name__ for o in chain(optimizer)]
        ['Lookahead', 'TrustRatio', 'SGD']
        >>> type(find_in_chain(optimizer, TrustRatio)).__name__
        'TrustRatio'
        >>> find_in_chain(optimizer, GradientNoise) is None
        True
    """
    optimizers = [optimizer]
    while getattr(optimizers[-1], "inner_optimizer", None) is not None:
        optimizers.append(optimizers[-1].inner_optimizer)
    return optimizers


def find_in_chain(optimizer: keras.optimizers.Optimizer, kind: type) -> Any:
    """The first optimizer of type ``kind`` in :func:`chain` of ``optimizer``, or None."""
    return next((member for member in chain(optimizer) if isinstance(member, kind)), None)


class GradientObserver:
    """Mixin for wrappers that watch gradients; the outermost wrapper of a chain calls:

    * :meth:`observe_local` with one replica's gradients of one micro-batch, in that
      replica's context, before anything is reduced (every ``apply``);
    * :meth:`local_sums` at an update, in replica context: scalars to sum over replicas;
    * :meth:`observe_reduced` at an update with the all-reduced gradients (what the
      optimizer steps with) and the replica sums of :meth:`local_sums`;
    * :meth:`observe_updated` after the update.
    """

    def observe_local(self, grads) -> None:
        """One replica's gradients of one micro-batch."""

    def local_sums(self) -> list:
        """Scalars (float32 tensors) to sum over the replicas at this update."""
        return []

    def observe_reduced(self, grads, sums) -> None:
        """The all-reduced gradients of this update and the sums of :meth:`local_sums`."""

    def observe_updated(self) -> None:
        """Called once the update has been applied to every variable."""


class OptimizerWrapper(keras.optimizers.Optimizer):
    """Base class: runs ``optimizer``'s step, with hooks to transform it.

    Subclasses override ``transform_gradient`` (what the wrapped optimizer sees)
    and/or ``update_step`` (calling ``super().update_step`` for the wrapped step,
    then changing the variable), add their own state in ``build``, and extend
    ``get_config``. The base class alone is the identity wrapper.

    Args:
        optimizer: the ``keras.optimizers.Optimizer`` to wrap (possibly a wrapper).
        name: the wrapper's name, the scope of its variables.

    Example:
        >>> class Scale(OptimizerWrapper):  # a gradient transformation in two lines
        ...     def transform_gradient(self, gradient, variable):
        ...         return 0.5 * gradient
    """

    def __init__(self, optimizer: keras.optimizers.Optimizer, name: str | None = None) -> None:
        if not isinstance(optimizer, keras.optimizers.Optimizer):
            raise TypeError(f"optimizer must be a keras.optimizers.Optimizer, got {optimizer!r}")
        if isinstance(optimizer, keras.optimizers.LossScaleOptimizer):
            raise ValueError(
                "cannot wrap a LossScaleOptimizer: wrap its inner optimizer and let Keras "
                "(or you) put the LossScaleOptimizer around the wrapper"
            )
        for argument in UNSUPPORTED_ON_WRAPPED:
            if getattr(optimizer, argument, None):
                raise ValueError(
                    f"the wrapped optimizer has {argument}={getattr(optimizer, argument)!r}, "
                    f"which a wrapper does not support; create it without {argument}"
                )
        super().__init__(learning_rate=0.0, name=name)
        # The base class made a step counter and a learning rate of its own; the
        # wrapper uses the wrapped optimizer's instead, and must not save them twice.
        self._untrack_variable(self._iterations)
        self._untrack_variable(self._learning_rate)
        self.inner_optimizer = optimizer
        self._share("_iterations", optimizer._iterations)
        self._share("_learning_rate", optimizer._learning_rate)

    def _share(self, attribute: str, value) -> None:
        """Sets ``attribute`` to the wrapped optimizer's ``value`` without tracking it here."""
        setattr(self, attribute, value)
        if isinstance(value, keras.Variable):
            self._untrack_variable(value)

    @property
    def learning_rate(self):
        return self.inner_optimizer.learning_rate

    @learning_rate.setter
    def learning_rate(self, learning_rate) -> None:
        self.inner_optimizer.learning_rate = learning_rate
        self._share("_learning_rate", self.inner_optimizer._learning_rate)

    @property
    def variables(self) -> list:
        return self._variables[:] + self.inner_optimizer.variables

    def build(self, var_list):
        if self.built:
            return
        super().build(var_list)
        if not self.inner_optimizer.built:
            self.inner_optimizer.build(var_list)

    def chain(self) -> list:
        """This wrapper and the optimizers it wraps, outermost first (:func:`chain`)."""
        return chain(self)

    def observers(self) -> list:
        """The :class:`GradientObserver` wrappers of :meth:`chain`."""
        return [optimizer for optimizer in self.chain() if isinstance(optimizer, GradientObserver)]

    def _backend_apply_gradients(self, grads, trainable_variables):
        self._observe_local(grads)
        super()._backend_apply_gradients(grads, trainable_variables)

    def _observe_local(self, grads) -> None:
        for observer in self.observers():
            observer.observe_local(grads)

    def _backend_update_step(self, grads, trainable_variables, learning_rate):
        if keras.backend.backend() != "tensorflow":  # one device: nothing to all-reduce
            for observer in self.observers():
                observer.observe_reduced(grads, observer.local_sums())
        super()._backend_update_step(grads, trainable_variables, learning_rate)
        for observer in self.observers():
            observer.observe_updated()

    def _all_reduce_sum_gradients(self, grads_and_vars):
        """TensorFlow's all-reduce of the gradients, with the observers' sums riding along."""
        observers = self.observers()
        if not observers:
            return super()._all_reduce_sum_gradients(grads_and_vars)
        import tensorflow as tf

        grads_and_vars = list(grads_and_vars)
        sums = [observer.local_sums() for observer in observers]
        present = [g for g, _ in grads_and_vars if g is not None]
        flat_sums = [ops.cast(value, "float32") for values in sums for value in values]
        # In one graph: the gradients may come from outside a branch the sums are read in.
        values = [tf.identity(value) for value in present + flat_sums]
        context = tf.distribute.get_replica_context()
        reduced = (
            context.all_reduce(tf.distribute.ReduceOp.SUM, values)
            if context is not None
            else values
        )
        reduced_grads, reduced_sums = reduced[: len(present)], reduced[len(present) :]
        it = iter(reduced_grads)
        pairs = [(None if g is None else next(it), v) for g, v in grads_and_vars]
        offset = 0
        for observer, values in zip(observers, sums):
            observer.observe_reduced(
                [g for g, _ in pairs], reduced_sums[offset : offset + len(values)]
            )
            offset += len(values)
        return pairs

    def _clip_gradients(self, grads):
        return self.inner_optimizer._clip_gradients(grads)

    def _apply_weight_decay(self, variables):
        self.inner_optimizer._apply_weight_decay(variables)

    def exclude_from_weight_decay(self, var_list=None, var_names=None) -> None:
        """Keras's method, passed to the wrapped optimizer, whose decay it is."""
        self.inner_optimizer.exclude_from_weight_decay(var_list=var_list, var_names=var_names)

    def transform_gradient(self, gradient, variable):
        """The gradient the wrapped optimizer sees for ``variable``; the identity here."""
        return gradient

    def update_step(self, gradient, variable, learning_rate):
        """The wrapped optimizer's step on the transformed gradient."""
        self.inner_optimizer.update_step(
            self.transform_gradient(gradient, variable), variable, learning_rate
        )

    def get_config(self) -> dict:
        # Only the name of the base class's arguments: the rest is the wrapped optimizer's.
        return {"name": self.name, "optimizer": keras.optimizers.serialize(self.inner_optimizer)}

    @classmethod
    def from_config(cls, config: dict, custom_objects=None):
        config = dict(config)
        optimizer = keras.optimizers.deserialize(
            config.pop("optimizer"), custom_objects=custom_objects
        )
        return cls(optimizer, **config)
