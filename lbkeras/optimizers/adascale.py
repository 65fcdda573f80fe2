"""AdaScale: a learning rate that adapts to the batch from the gradient noise.

Johnson, Agrawal, Gu, Guestrin, ICML 2020; see :class:`AdaScale`.
"""

from __future__ import annotations

from typing import Any

import keras
from keras import ops

from lbkeras.checks import check_float, check_fraction
from lbkeras.optimizers.noise_scale import NoiseScaleObserver, read
from lbkeras.optimizers.wrapper import OptimizerWrapper


@keras.saving.register_keras_serializable(package="lbkeras")
class AdaScale(NoiseScaleObserver, OptimizerWrapper):
    """Scales each step by the gain ``r_t`` and reads the schedule at the step ``tau``.

    With the batch ``S`` times a base batch, ``sigma^2`` the variance of one base-batch
    gradient and ``mu^2 = |G|^2``, the gain is
    ``r_t = (sigma^2 + mu^2) / (sigma^2 / S + mu^2)``, between 1 (noise-free gradients:
    a larger batch gives no better step) and ``S`` (pure noise: the linear scaling rule).
    The step is ``w <- w - r_t lr(tau_t) g`` (the learning rate the wrapped optimizer is
    given is multiplied by ``r_t``), and the schedule is read at the scale-invariant
    step ``tau``, which advances by ``r_t`` per step: a run at batch ``S B`` follows the
    base batch's schedule and ends when ``tau`` reaches its length (see :attr:`tau`).

    The statistics are the ones :class:`~lbkeras.monitoring.GradientStatistics`
    measures (:class:`~lbkeras.optimizers.noise_scale.NoiseScaleObserver`): the ``n``
    small-batch gradients of an update are the replicas' micro-batch gradients, each of
    ``b`` examples, so it needs ``n >= 2`` (replicas or gradient accumulation); until an
    estimate exists the gain is 1. ``scale=None`` takes the base batch to be ``b``, so
    ``S = n``; with ``scale`` set, ``S = scale`` (the base batch is ``n b / scale``).
    The smoothed estimates replace the paper's moving averages (debiased EMA of decay
    ``ema_decay``, applied to ``|G|^2`` and ``tr(Sigma)`` separately).

    Validated in the paper for SGD with and without momentum: there multiplying the
    learning rate by ``r_t`` multiplies the step. Around Adam-like optimizers (LAMB) the
    rate still scales the step, but the gain's derivation assumes SGD's
    variance-reduction argument, which normalised updates do not follow.

    Args:
        optimizer: the optimizer to adapt (SGD or momentum); its learning rate may be a
            schedule, which is then read at ``tau``.
        scale: the batch scale ``S`` over the base batch; None: the number of small
            gradients per update.
        ema_decay: decay of the smoothed ``|G|^2`` and ``tr(Sigma)``.
        name: the wrapper's name.

    References:
        Johnson, Agrawal, Gu, Guestrin, "AdaScale SGD: A User-Friendly Algorithm for
        Distributed Training", ICML 2020.

    Example:
        >>> model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
        >>> adascale = AdaScale(keras.optimizers.SGD(0.05))
        >>> model.compile(lbkeras.optimizers.GradientAccumulation(adascale, 4), "mse")
        >>> x = np.random.default_rng(0).normal(size=(512, 3)).astype("float32")
        >>> _ = model.fit(x, x.sum(axis=1), batch_size=16, verbose=0)  # 8 updates of 4 x 16
        >>> 1.0 <= adascale.gain <= 4.0, 8.0 <= adascale.tau <= 32.0
        (True, True)
    """

    def __init__(
        self,
        optimizer: keras.optimizers.Optimizer,
        scale: float | None = None,
        ema_decay: float = 0.9,
        name: str = "adascale",
    ) -> None:
        super().__init__(optimizer, name=name)
        self.scale = None if scale is None else check_float("scale", scale, positive=True)
        self.ema_decay = check_fraction("ema_decay", ema_decay)

    def build(self, var_list):
        if self.built:
            return
        super().build(var_list)
        self.build_noise_scale()
        with keras.name_scope(self.name, caller=self):
            self._tau = keras.Variable(
                0.0, name="tau", dtype="float32", trainable=False, aggregation="only_first_replica"
            )
            self._gain = keras.Variable(
                1.0, name="gain", dtype="float32", trainable=False, aggregation="only_first_replica"
            )
        self._track_variable(self._tau)
        self._track_variable(self._gain)

    def observe_reduced(self, grads, sums) -> None:
        super().observe_reduced(grads, sums)
        n = ops.maximum(read(self._last["n"]), 1.0)
        scale = n if self.scale is None else ops.convert_to_tensor(self.scale, "float32")
        g2, trace_per_b = self.smoothed()
        # sigma^2 of a base batch (n b / S examples) is tr(Sigma)/b * S/n; of a b-batch T.
        base_variance = trace_per_b * scale / n
        gain = (base_variance + g2) / (base_variance / scale + g2)
        known = ops.logical_and(ops.greater(read(self._ema_weight), 0.0), ops.isfinite(gain))
        # |G|^2 <= 0 (noise dominates the estimate): the gain's upper bound S.
        gain = ops.where(ops.greater(g2, 0.0), gain, scale)
        self.assign(self._gain, ops.where(known, ops.clip(gain, 1.0, scale), 1.0))

    def update_step(self, gradient, variable, learning_rate):
        rate = self._rate_at_tau(learning_rate)
        super().update_step(gradient, variable, ops.cast(rate * read(self._gain), rate.dtype))

    def observe_updated(self) -> None:
        self.assign_add(self._tau, read(self._gain))

    def _rate_at_tau(self, learning_rate) -> Any:
        schedule = self.inner_optimizer._learning_rate
        if isinstance(schedule, keras.optimizers.schedules.LearningRateSchedule):
            return ops.cast(schedule(read(self._tau)), "float32")
        return ops.cast(learning_rate, "float32")

    @property
    def gain(self) -> float:
        """The gain ``r_t`` of the last step."""
        return float(ops.convert_to_numpy(self._gain))

    @property
    def tau(self) -> float:
        """The scale-invariant step: the sum of the gains so far."""
        return float(ops.convert_to_numpy(self._tau))

    def get_config(self) -> dict:
        config = super().get_config()
        config.update({"scale": self.scale, "ema_decay": self.ema_decay})
        return config
