"""TrustRatio: the layer-wise trust ratio of LARS and LAMB around any optimizer."""

from __future__ import annotations

from collections.abc import Sequence

import keras
from keras import ops

from lbkeras.checks import check_float
from lbkeras.optimizers.layerwise import (
    TrustRatioRecorder,
    compile_patterns,
    included_flags,
    l2_norm,
    trust_ratio,
)
from lbkeras.optimizers.wrapper import OptimizerWrapper

SCALES = ("update", "gradient")


@keras.saving.register_keras_serializable(package="lbkeras")
class TrustRatio(TrustRatioRecorder, OptimizerWrapper):
    """Rescales each variable's step of any optimizer to a fraction of the variable's norm.

    Two places for the ratio, chosen by ``scale``:

    ``scale="update"`` (the default; LAMB's, and optax's ``scale_by_trust_ratio``): the
    wrapped optimizer takes its step; with ``u = w_new - w`` that step and ``lr`` the
    step's learning rate::

        trust = trust_coefficient * ||w|| / (||u / lr|| + epsilon)    (1 if ||w|| or ||u|| is 0)
        w <- w + trust * u

    so an adapted variable moves by ``lr * trust_coefficient * ||w||`` (``epsilon = 0``)
    in the direction the wrapped optimizer chose. ``u / lr`` is the wrapped step per unit
    of learning rate (``-g`` for plain SGD, LAMB's ``-r`` for Adam): the ratio is taken
    before the learning rate, as optax chains ``scale_by_trust_ratio`` before
    ``scale_by_learning_rate``, so the learning rate and its schedule keep their meaning.
    (A ratio on ``||u||`` itself would cancel ``lr`` out of the step.) The wrapped
    optimizer's state (momentum, moments) is its own and is not rescaled.

    ``scale="gradient"`` (LARS's): the gradient is rescaled before the wrapped optimizer
    sees it, ``g <- trust_coefficient * ||w|| / (||g|| + epsilon) * g`` (1 if a norm is
    0), so momentum accumulates the rescaled gradients, as in LARS's Algorithm 1.

    What this reproduces, exactly, with weight decay 0 (tests/optimizers/trust_ratio_test.py):

    - ``TrustRatio(SGD(lr, momentum=m, nesterov=n), c, eps, scale="gradient")`` *equals*
      ``LARS(lr, momentum=m, nesterov=n, trust_coefficient=c, epsilon=eps)`` at every step.
    - ``TrustRatio(SGD(lr), c, eps)`` (``scale="update"``) also equals
      ``LARS(lr, momentum=0, ...)`` at every step; with momentum it equals LARS at the
      first step only. After it, not even the directions agree: LARS scales each
      gradient by its ratio *before* it enters the momentum buffer, ``scale="update"``
      scales the momentum step *after*, so each of its steps is parallel to plain
      momentum SGD's step from the same state, not to LARS's.
    - ``TrustRatio(Adam(lr, b1, b2, epsilon=0))`` (``scale="update"``) *equals*
      ``LAMB(lr, b1, b2, epsilon=0)`` at every step. With epsilon > 0 they differ by
      O(epsilon): Keras's Adam adds its epsilon to the uncorrected ``sqrt(v)``, i.e.
      ``epsilon / sqrt(1 - b2^t)`` to LAMB's ``sqrt(v_hat)``; ``Adam(epsilon=e *
      sqrt(1 - b2))`` equals ``LAMB(epsilon=e)`` at the first step, and only
      approximately (direction and size) after it. (``scale="gradient"`` around Adam is
      nearly a no-op: Adam's normalisation undoes a per-variable gradient scale.)

    Weight decay: the wrapper adds none. The wrapped optimizer's decoupled decay (Keras's
    ``weight_decay`` argument, e.g. AdamW's) is applied by Keras before the step, so it is
    *outside* the trust ratio; LARS's and LAMB's coupled decay (inside the ratio) needs
    ``lbkeras.optimizers.LARS`` or ``LAMB``. Wrapping another wrapper rescales its whole
    step (a Lookahead synchronisation included).

    Args:
        optimizer: the ``keras.optimizers.Optimizer`` to wrap.
        trust_coefficient: ``eta``, the fraction of ``||w||`` a step moves per unit of
            learning rate.
        epsilon: added to ``||u / lr||`` (or ``||g||``) in the ratio's denominator.
        exclude_from_layer_adaptation: regexes searched in ``variable.path``; matching
            variables take the wrapped optimizer's step unchanged (trust 1).
        exclude_1d_variables: also exclude every variable of rank <= 1 (biases,
            normalisation parameters).
        scale: "update" (rescale the wrapped optimizer's step, LAMB-style) or "gradient"
            (rescale the gradient it sees, LARS-style).
        name: the wrapper's name.

    References:
        You, Gitman, Ginsburg, "Large Batch Training of Convolutional Networks",
        arXiv:1708.03888, 2017. You et al., "Large Batch Optimization for Deep Learning:
        Training BERT in 76 minutes", ICLR 2020. optax, ``scale_by_trust_ratio``.

    Example:
        >>> lamb_like = lbkeras.optimizers.TrustRatio(
        ...     keras.optimizers.Adam(1e-3, epsilon=0.0), exclude_1d_variables=True)
        >>> schedule = keras.optimizers.schedules.CosineDecay(1.0, decay_steps=1000)
        >>> lars_like = lbkeras.optimizers.TrustRatio(
        ...     keras.optimizers.SGD(schedule, momentum=0.9), trust_coefficient=0.001,
        ...     exclude_1d_variables=True, scale="gradient")
    """

    def __init__(
        self,
        optimizer: keras.optimizers.Optimizer,
        trust_coefficient: float = 1.0,
        epsilon: float = 0.0,
        exclude_from_layer_adaptation: str | Sequence[str] | None = None,
        exclude_1d_variables: bool = False,
        scale: str = "update",
        name: str = "trust_ratio",
    ) -> None:
        super().__init__(optimizer, name=name)
        self.trust_coefficient = check_float("trust_coefficient", trust_coefficient, positive=True)
        self.epsilon = check_float("epsilon", epsilon)
        self.exclude_from_layer_adaptation_patterns = compile_patterns(
            exclude_from_layer_adaptation, "exclude_from_layer_adaptation"
        )
        self.exclude_1d_variables = bool(exclude_1d_variables)
        if scale not in SCALES:
            raise ValueError(f"scale must be one of {SCALES}, got {scale!r}")
        self.scale = scale

    def build(self, var_list):
        if self.built:
            return
        super().build(var_list)
        self._adapt_flags = included_flags(
            var_list, self.exclude_from_layer_adaptation_patterns, self.exclude_1d_variables
        )
        self.build_trust_ratios(var_list)

    def transform_gradient(self, gradient, variable):
        if self.scale != "gradient" or not self._adapt_flags[self._get_variable_index(variable)]:
            return gradient
        gradient = ops.convert_to_tensor(gradient)
        w_norm = l2_norm(ops.cast(variable, gradient.dtype))
        g_norm = l2_norm(gradient)
        ratio = trust_ratio(w_norm, g_norm, self.trust_coefficient * w_norm, g_norm + self.epsilon)
        self.record_trust_ratio(variable, ratio)
        return ratio * gradient

    def update_step(self, gradient, variable, learning_rate):
        if self.scale != "update" or not self._adapt_flags[self._get_variable_index(variable)]:
            super().update_step(gradient, variable, learning_rate)
            return
        # A copy: under TensorFlow, convert_to_tensor(variable) is the variable itself.
        before = ops.copy(variable)
        super().update_step(gradient, variable, learning_rate)
        update = ops.subtract(variable, before)
        lr = ops.cast(learning_rate, before.dtype)
        w_norm = l2_norm(before)
        u_norm = l2_norm(update)
        # coefficient * ||w|| / (||u|| / lr + eps), multiplied through by lr: no division by lr.
        ratio = trust_ratio(
            w_norm, u_norm, self.trust_coefficient * lr * w_norm, u_norm + lr * self.epsilon
        )
        self.record_trust_ratio(variable, ratio)
        # w + (ratio - 1) u, in place: one pass over the variable fewer than w0 + ratio u.
        self.assign_add(variable, (ratio - 1) * update)

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(
            {
                "trust_coefficient": self.trust_coefficient,
                "epsilon": self.epsilon,
                "exclude_from_layer_adaptation": list(self.exclude_from_layer_adaptation_patterns),
                "exclude_1d_variables": self.exclude_1d_variables,
                "scale": self.scale,
            }
        )
        return config
