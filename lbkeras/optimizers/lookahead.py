"""Lookahead: slow weights that follow the wrapped optimizer's fast ones (Zhang et al. 2019)."""

from __future__ import annotations

import keras
from keras import ops

from lbkeras.checks import check_int, check_range
from lbkeras.optimizers.control import run_if
from lbkeras.optimizers.wrapper import OptimizerWrapper


@keras.saving.register_keras_serializable(package="lbkeras")
class Lookahead(OptimizerWrapper):
    """Every ``k`` steps, pulls the slow weights towards the fast ones and restarts from them.

    The model's weights are the "fast" weights ``w``: the wrapped optimizer updates them
    at every step. Each variable also has "slow" weights ``phi`` (an optimizer variable,
    saved with the model), equal to ``w`` before the first step. After every
    ``k``-th step (when the step counter reaches a multiple of ``k``)::

        phi <- phi + alpha * (w - phi)
        w <- phi

    The wrapped optimizer's state (momentum, moments) is kept across synchronisations,
    the paper's default. Between synchronisations the model holds the fast weights;
    right after one, fast and slow weights are equal. The synchronisation runs only at
    every ``k``-th step on TensorFlow (a ``cond``), so the other steps cost the wrapped
    optimizer's step alone; on JAX it is computed and selected at every step (see
    ``lbkeras.optimizers.control.run_if``).

    Args:
        optimizer: the ``keras.optimizers.Optimizer`` to wrap.
        sync_period: ``k``, the number of fast steps between synchronisations.
        slow_step_size: ``alpha`` in (0, 1]; 1 makes Lookahead the wrapped optimizer.
        name: the wrapper's name.

    References:
        Zhang, Lucas, Hinton, Ba, "Lookahead Optimizer: k steps forward, 1 step back",
        NeurIPS 2019.

    Example:
        >>> optimizer = lbkeras.optimizers.Lookahead(
        ...     lbkeras.optimizers.LAMB(1e-3), sync_period=6, slow_step_size=0.5)
    """

    def __init__(
        self,
        optimizer: keras.optimizers.Optimizer,
        sync_period: int = 6,
        slow_step_size: float = 0.5,
        name: str = "lookahead",
    ) -> None:
        super().__init__(optimizer, name=name)
        self.sync_period = check_int("sync_period", sync_period, positive=True)
        self.slow_step_size = check_range("slow_step_size", slow_step_size, 0, 1, low_open=True)

    def build(self, var_list):
        if self.built:
            return
        super().build(var_list)
        self._slow_weights = self.add_optimizer_variables(var_list, "slow")

    def update_step(self, gradient, variable, learning_rate):
        slow = self._slow_weights[self._get_variable_index(variable)]
        # The slow weights start as the weights before the first step: set here rather
        # than by an initializer, because Keras may build the optimizer inside an
        # XLA-compiled train step, where an initial value cannot read another variable.
        first_step = ops.equal(ops.convert_to_tensor(self.iterations), 0)
        run_if(first_step, lambda: self.assign(slow, variable), state=[slow])
        super().update_step(gradient, variable, learning_rate)
        # The counter advances after the step: this is step number iterations + 1.
        sync = ops.equal(ops.mod(ops.convert_to_tensor(self.iterations) + 1, self.sync_period), 0)
        run_if(sync, self._synchronize, slow, variable, state=[slow, variable])

    def _synchronize(self, slow, variable) -> None:
        """``phi <- phi + alpha (w - phi)``, then ``w <- phi``."""
        phi = ops.convert_to_tensor(slow)
        alpha = ops.cast(self.slow_step_size, phi.dtype)
        new_slow = phi + alpha * (ops.convert_to_tensor(variable) - phi)
        self.assign(slow, new_slow)
        self.assign(variable, new_slow)

    def get_config(self) -> dict:
        config = super().get_config()
        config.update({"sync_period": self.sync_period, "slow_step_size": self.slow_step_size})
        return config
