"""What layer-wise adaptive optimizers share: variable exclusions and the trust ratio.

LARS, LAMB and the ``TrustRatio`` wrapper all scale each variable's step by
a per-variable "trust ratio" and all let the user exempt some variables (biases,
normalisation parameters) from weight decay and from that adaptation. Keras's own
``exclude_from_weight_decay`` matches ``variable.name``, which in Keras 3 has no
layer path ("kernel"), so here patterns are regular expressions searched in
``variable.path`` ("block1/conv/kernel").

The exclusions are resolved once, in ``build``, into one Python bool per variable
index, so ``update_step`` branches statically: nothing string-based runs inside
the compiled step, in graph mode, under XLA or under JAX.
"""

from __future__ import annotations

import numbers
import re
from collections.abc import Sequence

import keras
from keras import ops

from lbkeras.checks import check_float


def compile_patterns(patterns: str | Sequence[str] | None, argument: str) -> tuple[str, ...]:
    """Validates regex patterns given as one string, a sequence, or None."""
    if patterns is None:
        return ()
    if isinstance(patterns, str):
        patterns = (patterns,)
    patterns = tuple(patterns)
    for pattern in patterns:
        if not isinstance(pattern, str):
            raise TypeError(f"{argument} must hold regex strings, got {pattern!r}")
        try:
            re.compile(pattern)
        except re.error as error:
            raise ValueError(f"{argument}: invalid regex {pattern!r}: {error}") from None
    return patterns


def variable_path(variable) -> str:
    """``variable.path`` for Keras variables, the name for anything else."""
    return str(getattr(variable, "path", None) or getattr(variable, "name", ""))


def is_excluded(variable, patterns: Sequence[str], exclude_1d: bool) -> bool:
    """Whether a pattern is found in the variable's path, or it is 1-D and ``exclude_1d``."""
    if exclude_1d and len(variable.shape) <= 1:
        return True
    path = variable_path(variable)
    return any(re.search(pattern, path) for pattern in patterns)


def included_flags(var_list, patterns: Sequence[str], exclude_1d: bool = False) -> list[bool]:
    """One bool per variable of ``var_list``: True where it is *not* excluded (see ``is_excluded``).

    Resolved once, in ``build``, so that ``update_step`` branches on a Python bool.
    """
    return [not is_excluded(variable, patterns, exclude_1d) for variable in var_list]


def l2_norm(x):
    """The Euclidean norm of all entries of ``x`` (a scalar)."""
    return ops.sqrt(ops.sum(ops.square(x)))


def trust_ratio(weight_norm, update_norm, numerator, denominator):
    """``numerator / denominator`` where both norms are positive, else 1.

    The "else 1" rule keeps zero-initialised variables (biases, the zero-init
    BatchNorm gammas of Goyal et al.) trainable: with ``||w|| = 0`` a ratio
    proportional to ``||w||`` would freeze them forever.
    """
    positive = ops.logical_and(ops.greater(weight_norm, 0), ops.greater(update_norm, 0))
    one = ops.ones_like(numerator)
    safe_denominator = ops.where(positive, denominator, ops.ones_like(denominator))
    return ops.where(positive, numerator / safe_denominator, one)


class TrustRatioRecorder:
    """Mixin for optimizers with a trust ratio: keeps the ratio each variable's last step
    applied, so that monitoring (``lbkeras.monitoring``) can show it.

    One scalar optimizer variable per trainable variable, 1 for excluded variables
    (which get no ratio); one scalar assignment per variable and step.
    """

    def build_trust_ratios(self, var_list) -> None:
        self._applied_trust_ratios = [
            self.add_variable(
                (),
                initializer="ones",
                dtype="float32",
                name=f"{variable_path(v).replace('/', '_')}_trust_ratio",
            )
            for v in var_list
        ]

    def record_trust_ratio(self, variable, ratio) -> None:
        slot = self._applied_trust_ratios[self._get_variable_index(variable)]
        self.assign(slot, ops.cast(ratio, "float32"))

    @property
    def applied_trust_ratios(self) -> list:
        """The trust ratio of each trainable variable's last step, in variable order."""
        return list(self._applied_trust_ratios)


class LayerwiseOptimizer(TrustRatioRecorder, keras.optimizers.Optimizer):
    """Base class for optimizers with coupled weight decay and per-variable trust ratios.

    Subclasses read ``self._decays(variable)`` and ``self._adapts(variable)`` in
    ``update_step``. ``weight_decay`` keeps Keras's argument name but is *coupled*:
    the subclass adds it inside its update, so Keras's decoupled
    ``_apply_weight_decay`` is switched off here.

    Args:
        weight_decay: coupled L2 coefficient (``beta`` in LARS, ``lambda`` in LAMB).
        exclude_from_weight_decay: regexes searched in ``variable.path``.
        exclude_from_layer_adaptation: regexes; matching variables get trust ratio 1.
            Defaults to the same list as ``exclude_from_weight_decay`` when None,
            as in the LAMB reference implementation.
        exclude_1d_variables: exclude every variable of rank <= 1 (biases,
            normalisation scales and offsets) from both decay and adaptation.
    """

    def __init__(
        self,
        learning_rate,
        weight_decay: float = 0.0,
        exclude_from_weight_decay: str | Sequence[str] | None = None,
        exclude_from_layer_adaptation: str | Sequence[str] | None = None,
        exclude_1d_variables: bool = False,
        **kwargs,
    ) -> None:
        if isinstance(learning_rate, numbers.Real):  # not a schedule, callable or variable
            learning_rate = check_float("learning_rate", learning_rate)
        super().__init__(learning_rate=learning_rate, weight_decay=None, **kwargs)
        if weight_decay is None:
            weight_decay = 0.0
        self.weight_decay = check_float("weight_decay", weight_decay)
        self.exclude_from_weight_decay_patterns = compile_patterns(
            exclude_from_weight_decay, "exclude_from_weight_decay"
        )
        if exclude_from_layer_adaptation is None:
            exclude_from_layer_adaptation = self.exclude_from_weight_decay_patterns
        self.exclude_from_layer_adaptation_patterns = compile_patterns(
            exclude_from_layer_adaptation, "exclude_from_layer_adaptation"
        )
        self.exclude_1d_variables = bool(exclude_1d_variables)

    def build(self, var_list):
        if self.built:
            return
        super().build(var_list)
        self._decay_flags = [
            self.weight_decay > 0 and included
            for included in included_flags(
                var_list, self.exclude_from_weight_decay_patterns, self.exclude_1d_variables
            )
        ]
        self._adapt_flags = included_flags(
            var_list, self.exclude_from_layer_adaptation_patterns, self.exclude_1d_variables
        )
        self.build_trust_ratios(var_list)

    def _decays(self, variable) -> bool:
        return self._decay_flags[self._get_variable_index(variable)]

    def _adapts(self, variable) -> bool:
        return self._adapt_flags[self._get_variable_index(variable)]

    def _apply_weight_decay(self, variables):
        """Disabled: the decay is coupled, applied by the subclass's ``update_step``."""

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(
            {
                "weight_decay": self.weight_decay,
                "exclude_from_weight_decay": list(self.exclude_from_weight_decay_patterns),
                "exclude_from_layer_adaptation": list(self.exclude_from_layer_adaptation_patterns),
                "exclude_1d_variables": self.exclude_1d_variables,
            }
        )
        return config
