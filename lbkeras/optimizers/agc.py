"""AdaptiveGradientClipping: unit-wise gradient clipping relative to the weights (Brock et al.)."""

from __future__ import annotations

from collections.abc import Sequence

import keras
from keras import ops

from lbkeras.checks import check_float
from lbkeras.optimizers.layerwise import compile_patterns, included_flags
from lbkeras.optimizers.wrapper import OptimizerWrapper


def unitwise_norm(x):
    """Norms per output unit: over all axes but the last for rank >= 2, else of all of ``x``.

    Keras kernels keep the output units last (Dense ``(in, out)``, Conv2D ``(h, w, in,
    out)``), so each unit's norm covers its fan-in. The result broadcasts against ``x``.
    """
    if len(x.shape) <= 1:
        return ops.sqrt(ops.sum(ops.square(x)))
    return ops.sqrt(ops.sum(ops.square(x), axis=tuple(range(len(x.shape) - 1)), keepdims=True))


@keras.saving.register_keras_serializable(package="lbkeras")
class AdaptiveGradientClipping(OptimizerWrapper):
    """Clips each unit's gradient to a fraction of its weights' norm, then steps.

    For each unit (see ``unitwise_norm``) with weights ``w`` and gradient ``g``::

        if ||g|| / max(||w||, eps) > clipping:
            g <- clipping * max(||w||, eps) / ||g|| * g

    and the wrapped optimizer steps with the clipped gradient. ``eps`` keeps zero-
    initialised units (biases) trainable. Clipping acts on the all-reduced gradient,
    under ``tf.distribute`` too. Brock et al. use ``clipping`` 0.01 to 0.16 (smaller for
    larger batches) and do not clip the final linear layer: name it in ``exclude``.

    Args:
        optimizer: the ``keras.optimizers.Optimizer`` to wrap.
        clipping: ``lambda``, the largest allowed ratio ``||g|| / max(||w||, eps)``.
        eps: the smallest weight norm the ratio uses; must be > 0.
        exclude: regexes searched in ``variable.path``; matching variables are not
            clipped (e.g. ``"logits/"`` for a classifier layer named "logits").
        name: the wrapper's name.

    References:
        Brock, De, Smith, Simonyan, "High-Performance Large-Scale Image Recognition
        Without Normalization", ICML 2021.

    Example:
        >>> optimizer = lbkeras.optimizers.AdaptiveGradientClipping(
        ...     keras.optimizers.SGD(0.1, momentum=0.9, nesterov=True),
        ...     clipping=0.01, exclude=["logits/"])
    """

    def __init__(
        self,
        optimizer: keras.optimizers.Optimizer,
        clipping: float = 0.01,
        eps: float = 1e-3,
        exclude: str | Sequence[str] | None = None,
        name: str = "agc",
    ) -> None:
        super().__init__(optimizer, name=name)
        self.clipping = check_float("clipping", clipping, positive=True)
        # > 0: with eps = 0, zero-initialised units would never move.
        self.eps = check_float("eps", eps, positive=True)
        self.exclude_patterns = compile_patterns(exclude, "exclude")

    def build(self, var_list):
        if self.built:
            return
        super().build(var_list)
        self._clip_flags = included_flags(var_list, self.exclude_patterns)

    def transform_gradient(self, gradient, variable):
        if not self._clip_flags[self._get_variable_index(variable)]:
            return gradient
        gradient = ops.convert_to_tensor(gradient)
        weight = ops.cast(variable, gradient.dtype)
        max_norm = self.clipping * ops.maximum(unitwise_norm(weight), self.eps)
        g_norm = unitwise_norm(gradient)
        # As the NFNet code does: the floor of 1e-6 only guards the unselected branch.
        clipped = gradient * (max_norm / ops.maximum(g_norm, 1e-6))
        return ops.where(g_norm > max_norm, clipped, gradient)

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(
            {"clipping": self.clipping, "eps": self.eps, "exclude": list(self.exclude_patterns)}
        )
        return config
