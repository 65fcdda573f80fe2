"""Learning-rate schedules for large-batch training, and a registry to build them by name.

Every schedule is a ``keras.optimizers.schedules.LearningRateSchedule`` written with
``keras.ops`` (so it runs on any Keras backend), returns float32 and serialises with
``keras.saving``. Polynomial and linear decay are Keras's own ``PolynomialDecay``
(the LARS schedule is ``power=2``); :class:`Warmup` goes in front of any schedule.

Registered names (:func:`get`, :func:`names`):

* ``"constant"``: :class:`Constant` (``learning_rate``).
* ``"step"``: :class:`StepDecay`.
* ``"polynomial"``: ``keras.optimizers.schedules.PolynomialDecay``, with
  ``end_learning_rate`` defaulting to 0 (Keras's default is 1e-4).
* ``"linear"``: ``PolynomialDecay`` with ``power=1`` (``initial_learning_rate``,
  ``decay_steps``, ``end_learning_rate=0``).
* ``"cosine"``: :class:`CosineDecayWithHold`.
* ``"rsqrt"``: :class:`InverseSqrtDecay`.
* ``"exponential"``: ``keras.optimizers.schedules.ExponentialDecay``.
* ``"piecewise"``: ``keras.optimizers.schedules.PiecewiseConstantDecay``.

Batch-size schedules (the global batch as a function of examples seen) are in
:mod:`lbkeras.schedules.batch_size`, with their own registry
(``batch_size.get(name, **options)``, ``batch_size.names()``). :class:`ExamplesKeyed` runs any
learning-rate schedule written in examples seen on the steps of a batch-size schedule.

References:
    Goyal et al., "Accurate, Large Minibatch SGD: Training ImageNet in 1 Hour", 2017.
    You, Gitman, Ginsburg, "Large Batch Training of Convolutional Networks", 2017.

Example:
    >>> decay = get("polynomial", initial_learning_rate=3.2, decay_steps=9000, power=2.0)
    >>> schedule = Warmup(decay, warmup_steps=epochs_to_steps(5, 156))
"""

from __future__ import annotations

from typing import Any

import keras

from lbkeras.registry import Registry
from lbkeras.schedules import batch_size
from lbkeras.schedules.constant import Constant
from lbkeras.schedules.cosine import CosineDecayWithHold
from lbkeras.schedules.epochs import epochs_to_steps, steps_per_epoch
from lbkeras.schedules.examples_keyed import ExamplesKeyed
from lbkeras.schedules.rsqrt import InverseSqrtDecay
from lbkeras.schedules.step_decay import StepDecay
from lbkeras.schedules.warmup import Warmup

__all__ = [
    "SCHEDULES",
    "Constant",
    "CosineDecayWithHold",
    "ExamplesKeyed",
    "InverseSqrtDecay",
    "StepDecay",
    "Warmup",
    "batch_size",
    "epochs_to_steps",
    "get",
    "names",
    "steps_per_epoch",
]

_keras_schedules = keras.optimizers.schedules


def _polynomial(
    initial_learning_rate: float,
    decay_steps: int,
    end_learning_rate: float = 0.0,
    power: float = 1.0,
    cycle: bool = False,
) -> keras.optimizers.schedules.PolynomialDecay:
    """Keras's ``PolynomialDecay``, decaying to 0 unless told otherwise."""
    return _keras_schedules.PolynomialDecay(
        initial_learning_rate, decay_steps, end_learning_rate, power=power, cycle=cycle
    )


def _linear(
    initial_learning_rate: float, decay_steps: int, end_learning_rate: float = 0.0
) -> keras.optimizers.schedules.PolynomialDecay:
    """Linear decay: Keras's ``PolynomialDecay`` with ``power=1``."""
    return _polynomial(initial_learning_rate, decay_steps, end_learning_rate, power=1.0)


SCHEDULES = Registry("schedule")
SCHEDULES.add("constant", Constant)
SCHEDULES.add("step", StepDecay)
SCHEDULES.add("polynomial", _polynomial)
SCHEDULES.add("linear", _linear)
SCHEDULES.add("cosine", CosineDecayWithHold)
SCHEDULES.add("rsqrt", InverseSqrtDecay)
SCHEDULES.add("exponential", _keras_schedules.ExponentialDecay)
SCHEDULES.add("piecewise", _keras_schedules.PiecewiseConstantDecay)


def get(name: str, **kwargs: Any) -> keras.optimizers.schedules.LearningRateSchedule:
    """Builds the schedule registered under ``name`` with ``kwargs``.

    Raises:
        ValueError: an unknown name (the message lists the choices).
    """
    return SCHEDULES.get(name, **kwargs)


def names() -> list[str]:
    """The registered schedule names, sorted."""
    return SCHEDULES.names()
