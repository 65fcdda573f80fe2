"""LARS: layer-wise adaptive rate scaling (You, Gitman, Ginsburg 2017)."""

from __future__ import annotations

from collections.abc import Sequence

import keras
from keras import ops

from lbkeras.checks import check_float, check_fraction
from lbkeras.optimizers.layerwise import LayerwiseOptimizer, l2_norm, trust_ratio


@keras.saving.register_keras_serializable(package="lbkeras")
class LARS(LayerwiseOptimizer):
    """SGD with momentum whose step is scaled per variable by a trust ratio.

    For each variable ``w`` with gradient ``g`` at learning rate ``lr``::

        local_lr = eta * ||w|| / (||g|| + beta * ||w|| + eps)     (1 if ||w|| or ||g|| is 0)
        v <- momentum * v + lr * local_lr * (g + beta * w)
        w <- w - v
        (nesterov: w <- w - (momentum * v + lr * local_lr * (g + beta * w)))

    This is the paper's "classic momentum" form: the learning rate sits inside the
    momentum buffer, so a change of ``lr`` acts on new gradients only (the momentum
    correction of Goyal et al. comes for free). Weight decay ``beta`` is *coupled*:
    it is added to the gradient and enters the trust ratio's denominator.

    Variables matching ``exclude_from_weight_decay`` get ``beta = 0``; those matching
    ``exclude_from_layer_adaptation`` (or of rank <= 1 with ``exclude_1d_variables``)
    get ``local_lr = 1``, i.e. plain momentum SGD. With ``clip_trust_ratio=True``
    (NVIDIA's LARC) ``local_lr`` becomes ``min(local_lr / lr, 1)``, so a variable's
    effective rate never exceeds ``lr``.

    Keras has no LARS; TF Model Garden's matches on ``variable.name``, which in Keras 3
    carries no layer path, and has no zero-norm rule. This one is written with
    ``keras.ops`` only and runs on every backend.

    Args:
        learning_rate: float or ``LearningRateSchedule``; with ``eta = 0.001`` the
            paper's peak rates are large (about 10 to 35 for ResNet-50).
        momentum: momentum coefficient ``m``.
        trust_coefficient: ``eta``.
        weight_decay: coupled weight decay ``beta``.
        epsilon: added to the trust ratio's denominator.
        nesterov: use Nesterov momentum.
        clip_trust_ratio: LARC trust clipping.
        exclude_from_weight_decay: regexes searched in ``variable.path``.
        exclude_from_layer_adaptation: regexes; defaults to
            ``exclude_from_weight_decay``.
        exclude_1d_variables: exclude every rank <= 1 variable from both.
        **kwargs: ``keras.optimizers.Optimizer`` arguments (``clipnorm``, ``name``...).

    References:
        You, Gitman, Ginsburg, "Large Batch Training of Convolutional Networks",
        arXiv:1708.03888, 2017.

    Example:
        >>> schedule = lbkeras.schedules.Warmup(
        ...     keras.optimizers.schedules.PolynomialDecay(9.0, 3000, power=2.0), 150)
        >>> optimizer = lbkeras.optimizers.LARS(
        ...     schedule, momentum=0.9, weight_decay=1e-4, exclude_1d_variables=True)
        >>> model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(4)])
        >>> model.compile(optimizer=optimizer, loss="mse")
        >>> history = model.fit(np.ones((64, 8)), np.zeros((64, 4)), batch_size=32, verbose=0)
        >>> int(optimizer.iterations), round(float(schedule(2)), 6)  # 9.0 * 2 / 150
        (2, 0.12)
    """

    def __init__(
        self,
        learning_rate=1.0,
        momentum: float = 0.9,
        trust_coefficient: float = 0.001,
        weight_decay: float = 0.0,
        epsilon: float = 1e-9,
        nesterov: bool = False,
        clip_trust_ratio: bool = False,
        exclude_from_weight_decay: str | Sequence[str] | None = None,
        exclude_from_layer_adaptation: str | Sequence[str] | None = None,
        exclude_1d_variables: bool = False,
        name: str = "lars",
        **kwargs,
    ) -> None:
        super().__init__(
            learning_rate=learning_rate,
            weight_decay=weight_decay,
            exclude_from_weight_decay=exclude_from_weight_decay,
            exclude_from_layer_adaptation=exclude_from_layer_adaptation,
            exclude_1d_variables=exclude_1d_variables,
            name=name,
            **kwargs,
        )
        self.momentum = check_fraction("momentum", momentum)
        self.trust_coefficient = check_float("trust_coefficient", trust_coefficient, positive=True)
        self.epsilon = check_float("epsilon", epsilon)
        self.nesterov = bool(nesterov)
        self.clip_trust_ratio = bool(clip_trust_ratio)

    def build(self, var_list):
        if self.built:
            return
        super().build(var_list)
        self._velocities = self.add_optimizer_variables(var_list, "velocity")

    def update_step(self, gradient, variable, learning_rate):
        dtype = variable.dtype
        lr = ops.cast(learning_rate, dtype)
        gradient = ops.cast(gradient, dtype)
        momentum = ops.cast(self.momentum, dtype)
        decay = self.weight_decay if self._decays(variable) else 0.0

        scaled_lr = lr
        if self._adapts(variable):
            w_norm = l2_norm(variable)
            g_norm = l2_norm(gradient)
            local_lr = trust_ratio(
                w_norm,
                g_norm,
                self.trust_coefficient * w_norm,
                g_norm + decay * w_norm + self.epsilon,
            )
            # LARC: lr * min(local_lr / lr, 1), written without dividing by lr.
            scaled_lr = ops.minimum(local_lr, lr) if self.clip_trust_ratio else lr * local_lr
            applied = local_lr
            if self.clip_trust_ratio:
                applied = ops.where(lr > 0, scaled_lr / ops.maximum(lr, 1e-30), 1.0)
            self.record_trust_ratio(variable, applied)

        if decay:
            gradient = gradient + ops.cast(decay, dtype) * variable
        step = scaled_lr * gradient
        velocity = self._velocities[self._get_variable_index(variable)]
        new_velocity = momentum * velocity + step
        self.assign(velocity, new_velocity)
        self.assign_sub(variable, momentum * new_velocity + step if self.nesterov else new_velocity)

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(
            {
                "momentum": self.momentum,
                "trust_coefficient": self.trust_coefficient,
                "epsilon": self.epsilon,
                "nesterov": self.nesterov,
                "clip_trust_ratio": self.clip_trust_ratio,
            }
        )
        return config
