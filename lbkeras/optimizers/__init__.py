"""Optimizers for large batches, and a registry that also covers Keras's own.

Every entry carries tags (the facts code choosing by name needs: ``adaptive``,
``momentum``, ``layerwise``, ``wrapper``, and, as timm's optimizer metadata, the default
``base_learning_rate`` and the ``base_batch_size`` it is for), so no list beside the
registry has to agree with it.

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
    >>> default_learning_rate("adam")  # (base learning rate, the batch it is for)
    (0.001, 256)
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
#   wrapper: wraps another optimizer, given as `optimizer=` (a name or an instance);
#   base_learning_rate, base_batch_size: the learning rate the trainer uses when none is
#       given, and the batch it is for (scaled from there by the trainer's rule). Every
#       optimizer that is not a wrapper has them; a wrapper takes its inner optimizer's,
#       unless it sets the step size itself (trust_ratio). Each trains the default
#       experiment (MNIST-1D at batch 2048, linear rule): benchmarks/optimizer_defaults.py.
OPTIMIZERS = Registry("optimizer")

#: The batch every default learning rate below is for (Goyal et al.'s base batch).
DEFAULT_BASE_BATCH_SIZE = 256


def _add(name: str, factory: Any, base_learning_rate: float, **tags: Any) -> None:
    """Registers an optimizer that takes a learning rate, with its default per 256."""
    OPTIMIZERS.add(
        name,
        factory,
        base_learning_rate=base_learning_rate,
        base_batch_size=DEFAULT_BASE_BATCH_SIZE,
        **tags,
    )


# LARS: You et al.'s recipe as this project's default experiment (1.0 per 256, trust
# coefficient 0.001); LAMB: 1e-3 per 256 (You et al. 2020 reach ~1e-2 at batch 32k by
# the sqrt rule from there).
_add("lars", LARS, 1.0, momentum=True, layerwise=True)
_add("lamb", LAMB, 1e-3, adaptive=True, layerwise=True)
# SGD gets the trainer's --momentum (0.9): Goyal et al.'s 0.1 per 256.
_add("sgd", keras.optimizers.SGD, 0.1, momentum=True)
# Keras's adaptive optimizers under their lower-case names, at Keras's default rate
# (1e-3, the usual Adam-family rate per 256) unless said otherwise; Keras's Lamb is kept
# apart from lbkeras's as "keras_lamb" (it has no exclusions and no decay in r).
for _name, _cls, _rate in (
    ("adam", keras.optimizers.Adam, 1e-3),
    ("adamw", keras.optimizers.AdamW, 1e-3),
    ("adamax", keras.optimizers.Adamax, 1e-3),
    ("nadam", keras.optimizers.Nadam, 1e-3),
    ("rmsprop", keras.optimizers.RMSprop, 1e-3),
    # Duchi et al.'s accumulated squares shrink every step: 1e-2, as PyTorch's default.
    ("adagrad", keras.optimizers.Adagrad, 1e-2),
    # Zeiler's Adadelta needs no rate (1.0, PyTorch's default); Keras's 1e-3 barely moves.
    ("adadelta", keras.optimizers.Adadelta, 1.0),
    # Shazeer & Stern 2018's relative step, 1e-2 (Keras's 1e-3 reaches 0.938 test accuracy
    # on the default experiment, 1e-2 0.98: benchmarks/optimizer_defaults.py).
    ("adafactor", keras.optimizers.Adafactor, 1e-2),
    # Not Keras's Ftrl: FTRL-Proximal (McMahan et al. 2013, for shallow models with sparse
    # features) centres its regulariser at zero, not at the initial weights, so it pulls a
    # deep net's initialisation towards zero, and Keras's divides by the learning rate: the
    # default experiment's loss was NaN in epoch 1 (warmup starts at rate 0), measured by
    # benchmarks/optimizer_defaults.py while it was registered.
    # Chen et al. 2023: Lion's sign update wants a rate 3-10x below AdamW's; 3x (1e-4
    # reaches 0.83 test accuracy on the default experiment, 3e-4 0.96).
    ("lion", keras.optimizers.Lion, 3e-4),
    ("keras_lamb", keras.optimizers.Lamb, 1e-3),
    # Orthogonalised momentum for matrices, AdamW for the rest (Jordan et al. 2024);
    # its own momentum (0.95) is kept: the trainer's --momentum is SGD's.
    ("muon", keras.optimizers.Muon, 1e-3),
):
    _add(_name, _cls, _rate, adaptive=True)


def _sgd_with_momentum(nesterov: bool, **kwargs: Any) -> keras.optimizers.SGD:
    kwargs.setdefault("momentum", 0.9)
    return keras.optimizers.SGD(nesterov=nesterov, **kwargs)


# SGD with momentum 0.9 by default: "momentum" is Goyal et al.'s optimizer,
# "nesterov" the one Nado et al. 2021 tune to match LARS at batch 32k.
_add("momentum", functools.partial(_sgd_with_momentum, False), 0.1, momentum=True)
_add("nesterov", functools.partial(_sgd_with_momentum, True), 0.1, momentum=True)


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
# TrustRatio sets each layer's step to the rate times the layer's weight norm, whatever the
# inner optimizer: its default rate is its own, LAMB's (SGD's 0.1 per 256 diverges).
OPTIMIZERS.add(
    "trust_ratio",
    functools.partial(_wrap, TrustRatio),
    wrapper=True,
    base_learning_rate=1e-3,
    base_batch_size=DEFAULT_BASE_BATCH_SIZE,
)
for _name, _wrapper in {
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


def has_default_learning_rate(name: str) -> bool:
    """Whether ``name`` has a default learning rate of its own: every optimizer but the
    wrappers that take the rate of the optimizer they wrap."""
    return "base_learning_rate" in OPTIMIZERS.tags(name)


def default_learning_rate(name: str) -> tuple[float, int]:
    """The default base learning rate of the optimizer registered under ``name``, and the
    batch size it is for.

    Raises:
        ValueError: an unknown name, or a wrapper that takes the rate of the optimizer it
            wraps (ask for that one).
    """
    tags = OPTIMIZERS.tags(name)
    if not has_default_learning_rate(name):
        raise ValueError(
            f"{name!r} wraps another optimizer and takes its learning rate: ask for the "
            "default of the optimizer it wraps"
        )
    return tags["base_learning_rate"], tags["base_batch_size"]


__all__ = [
    "DEFAULT_BASE_BATCH_SIZE",
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
    "default_learning_rate",
    "get",
    "has_default_learning_rate",
    "is_adaptive",
    "names",
]
