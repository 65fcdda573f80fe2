"""Optimizers for large batches, and a registry that also covers Keras's own.

Every entry carries tags (the facts code choosing by name needs: ``adaptive``,
``momentum``, ``layerwise``, ``wrapper``), so no list beside the registry has to
agree with it.

Example:
    >>> type(get("lars", learning_rate=9.0, momentum=0.9)).__name__
    'LARS'
    >>> type(get("adamw", learning_rate=1e-3))  # Keras's own
    <class 'keras.src.optimizers.adamw.AdamW'>
    >>> lookahead = get("lookahead", optimizer="sgd",
    ...                 optimizer_options={"learning_rate": 0.1}, sync_period=5)
    >>> type(lookahead.inner_optimizer).__name__, lookahead.sync_period
    ('SGD', 5)
    >>> get("gradient_accumulation", optimizer="momentum", steps=4).steps
    4
    >>> names(wrapper=True)
    ['adascale', 'agc', 'gradient_accumulation', 'gradient_noise', 'lookahead', 'trust_ratio']
    >>> is_adaptive("lamb"), is_adaptive("lars")
    (True, False)
"""

from __future__ import annotations

import functools
from typing import Any

import keras

from lbkeras.optimizers.adascale import AdaScale
from lbkeras.optimizers.agc import AdaptiveGradientClipping
from lbkeras.optimizers.gradient_accumulation import GradientAccumulation, PiecewiseConstantSteps
from lbkeras.optimizers.gradient_noise import GradientNoise
from lbkeras.optimizers.lamb import LAMB
from lbkeras.optimizers.lars import LARS
from lbkeras.optimizers.layerwise import LayerwiseOptimizer
from lbkeras.optimizers.lookahead import Lookahead
from lbkeras.optimizers.trust_ratio import TrustRatio
from lbkeras.optimizers.wrapper import OptimizerWrapper
from lbkeras.registry import Registry

# Tags of the registry entries (the facts code choosing by name needs, kept here once):
#   adaptive: the step is normalised by gradient statistics (Adam-like): the "auto"
#       learning-rate rule scales it by sqrt(batch ratio), the others linearly;
#   momentum: takes a `momentum` argument (what the trainer's --momentum sets);
#   layerwise: lbkeras's LayerwiseOptimizer (coupled decay, exclusions);
#   wrapper: wraps another optimizer, given as `optimizer=` (a name or an instance).
OPTIMIZERS = Registry("optimizer")
OPTIMIZERS.add("lars", LARS, momentum=True, layerwise=True)
OPTIMIZERS.add("lamb", LAMB, adaptive=True, layerwise=True)
OPTIMIZERS.add("sgd", keras.optimizers.SGD, momentum=True)
# Keras's adaptive optimizers under their lower-case names; Keras's Lamb is kept apart
# from lbkeras's as "keras_lamb" (it has no exclusions and no decay in r).
for _name, _cls in {
    "adam": keras.optimizers.Adam,
    "adamw": keras.optimizers.AdamW,
    "adamax": keras.optimizers.Adamax,
    "nadam": keras.optimizers.Nadam,
    "rmsprop": keras.optimizers.RMSprop,
    "adagrad": keras.optimizers.Adagrad,
    "adadelta": keras.optimizers.Adadelta,
    "adafactor": keras.optimizers.Adafactor,
    "ftrl": keras.optimizers.Ftrl,
    "lion": keras.optimizers.Lion,
    "keras_lamb": keras.optimizers.Lamb,
    # Orthogonalised momentum for matrices, AdamW for the rest (Jordan et al. 2024);
    # its own momentum (0.95) is kept: the trainer's --momentum is SGD's.
    "muon": keras.optimizers.Muon,
}.items():
    OPTIMIZERS.add(_name, _cls, adaptive=True)


def _sgd_with_momentum(nesterov: bool, **kwargs: Any) -> keras.optimizers.SGD:
    kwargs.setdefault("momentum", 0.9)
    return keras.optimizers.SGD(nesterov=nesterov, **kwargs)


# SGD with momentum 0.9 by default: "momentum" is Goyal et al.'s optimizer,
# "nesterov" the one Nado et al. 2021 tune to match LARS at batch 32k.
OPTIMIZERS.add("momentum", functools.partial(_sgd_with_momentum, False), momentum=True)
OPTIMIZERS.add("nesterov", functools.partial(_sgd_with_momentum, True), momentum=True)


#: The inner optimizer of a wrapper given by name when none is named.
DEFAULT_INNER_OPTIMIZER = "sgd"


def _wrap(
    wrapper: type[OptimizerWrapper],
    optimizer: str | keras.optimizers.Optimizer = DEFAULT_INNER_OPTIMIZER,
    optimizer_options: dict[str, Any] | None = None,
    **kwargs: Any,
) -> OptimizerWrapper:
    """Builds ``wrapper`` around ``optimizer``, a registered name or an instance.

    A name is built with ``optimizer_options``, and may name a wrapper in turn.
    """
    if isinstance(optimizer, str):
        optimizer = get(optimizer, **(optimizer_options or {}))
    elif optimizer_options:
        raise ValueError("optimizer_options only apply to an optimizer given by name")
    return wrapper(optimizer, **kwargs)


# Wrappers that make any optimizer a large-batch one, e.g. get("trust_ratio",
# optimizer="momentum", optimizer_options={"learning_rate": 0.1}, trust_coefficient=0.001).
for _name, _wrapper in {
    "trust_ratio": TrustRatio,
    "adascale": AdaScale,
    "gradient_noise": GradientNoise,
    "lookahead": Lookahead,
    "agc": AdaptiveGradientClipping,
    "gradient_accumulation": GradientAccumulation,
}.items():
    OPTIMIZERS.add(_name, functools.partial(_wrap, _wrapper), wrapper=True)


def get(name: str, **kwargs: Any) -> keras.optimizers.Optimizer:
    """Builds the optimizer registered under ``name`` with ``kwargs``."""
    return OPTIMIZERS.get(name, **kwargs)


def names(**tags: Any) -> list[str]:
    """The registered optimizer names; with ``tags`` (``adaptive=True``) only those."""
    return OPTIMIZERS.names(**tags)


def is_adaptive(name: str) -> bool:
    """Whether the optimizer registered under ``name`` is adaptive (Adam-like)."""
    return bool(OPTIMIZERS.tags(name).get("adaptive", False))


__all__ = [
    "DEFAULT_INNER_OPTIMIZER",
    "LAMB",
    "LARS",
    "OPTIMIZERS",
    "AdaScale",
    "AdaptiveGradientClipping",
    "GradientAccumulation",
    "GradientNoise",
    "LayerwiseOptimizer",
    "Lookahead",
    "OptimizerWrapper",
    "PiecewiseConstantSteps",
    "TrustRatio",
    "get",
    "is_adaptive",
    "names",
]
