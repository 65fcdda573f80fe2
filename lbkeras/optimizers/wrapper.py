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

The wrapped optimizer must not use ``use_ema``, ``gradient_accumulation_steps`` or
``loss_scale_factor``, nor be a ``LossScaleOptimizer``: these live in ``apply``,
which a wrapper bypasses, so they raise an error instead of being ignored. (Under a
``mixed_float16`` policy Keras puts its ``LossScaleOptimizer`` *around* the
outermost wrapper, which works.)
"""

from __future__ import annotations

import keras

UNSUPPORTED_ON_WRAPPED = ("use_ema", "gradient_accumulation_steps", "loss_scale_factor")


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
