"""Optimizers for large batches, and a registry that also covers Keras's own.

Example:
    >>> lbkeras.optimizers.get("lars", learning_rate=9.0, momentum=0.9)
    >>> lbkeras.optimizers.get("adamw", learning_rate=1e-3)   # keras.optimizers.AdamW
    >>> lbkeras.optimizers.names()
"""

from __future__ import annotations

import functools
from typing import Any

import keras

from lbkeras.optimizers.lamb import LAMB
from lbkeras.optimizers.lars import LARS
from lbkeras.optimizers.layerwise import LayerwiseOptimizer
from lbkeras.registry import Registry

OPTIMIZERS = Registry("optimizer")
OPTIMIZERS.add("lars", LARS)
OPTIMIZERS.add("lamb", LAMB)
# Keras's optimizers under their lower-case names; Keras's Lamb is kept apart
# from lbkeras's as "keras_lamb" (it has no exclusions and no decay in r).
for _name, _cls in {
    "sgd": keras.optimizers.SGD,
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
}.items():
    OPTIMIZERS.add(_name, _cls)


def _sgd_with_momentum(nesterov: bool, **kwargs: Any) -> keras.optimizers.SGD:
    kwargs.setdefault("momentum", 0.9)
    return keras.optimizers.SGD(nesterov=nesterov, **kwargs)


# SGD with momentum 0.9 by default: "momentum" is Goyal et al.'s optimizer,
# "nesterov" the one Nado et al. 2021 tune to match LARS at batch 32k.
OPTIMIZERS.add("momentum", functools.partial(_sgd_with_momentum, False))
OPTIMIZERS.add("nesterov", functools.partial(_sgd_with_momentum, True))


def get(name: str, **kwargs: Any) -> keras.optimizers.Optimizer:
    """Builds the optimizer registered under ``name`` with ``kwargs``."""
    return OPTIMIZERS.get(name, **kwargs)


def names() -> list[str]:
    """The registered optimizer names."""
    return OPTIMIZERS.names()


__all__ = ["LAMB", "LARS", "LayerwiseOptimizer", "OPTIMIZERS", "get", "names"]
