"""Batch-size scaling rules for learning rate, Adam hyper-parameters and weight decay.

When the global batch grows from ``base_batch_size`` to ``global_batch_size``
(ratio ``k``), hyper-parameters tuned at the base batch must change with it:

* ``linear`` (Goyal et al. 2017): ``lr * k``. The rule for SGD with momentum and LARS.
* ``sqrt`` (Krizhevsky 2014; Hoffer et al. 2017): ``lr * sqrt(k)``. The usual rule
  for adaptive optimizers (Adam, LAMB), whose update size does not grow with ``k``.
* ``malladi`` (Malladi et al. 2022): the learning rate as ``sqrt``; the trainer also
  scales Adam's betas and epsilon with :func:`scale_adam_hyperparameters`.
* ``none``: leave the value unchanged.
* ``auto``: ``sqrt`` for adaptive optimizers, ``linear`` for SGD-like ones; see
  :func:`lbkeras.optimizers.is_adaptive` (the optimizer registry's ``adaptive`` tag).

:func:`scale_adam_hyperparameters` applies the square-root rule of Malladi et al.
(2022) to all of Adam's hyper-parameters at once.

References:
    Goyal et al., "Accurate, Large Minibatch SGD: Training ImageNet in 1 Hour", 2017.
    Hoffer, Hubara, Soudry, "Train longer, generalize better", 2017.
    Malladi, Lyu, Panigrahi, Arora, "On the SDEs and Scaling Rules for Adaptive
    Gradient Algorithms", NeurIPS 2022.

Example:
    >>> scale_learning_rate(0.1, 8192)  # Goyal: 0.1 at 256 -> 3.2 at 8k
    3.2
    >>> scale_learning_rate(1e-3, 1024, rule="sqrt")
    0.002
"""

from __future__ import annotations

import math
from typing import NamedTuple

from lbkeras import optimizers
from lbkeras.checks import check_float, check_fraction

RULES = ("linear", "sqrt", "malladi", "none", "auto")


def batch_ratio(global_batch_size: int, base_batch_size: int = 256) -> float:
    """``global_batch_size / base_batch_size``, after checking both are positive."""
    return check_float("global_batch_size", global_batch_size, positive=True) / check_float(
        "base_batch_size", base_batch_size, positive=True
    )


def resolve_rule(rule: str, optimizer: str | None = None) -> str:
    """Turns ``rule`` (possibly ``"auto"``) into one of the other :data:`RULES`.

    Args:
        rule: one of :data:`RULES`.
        optimizer: registry name of the optimizer; required for ``"auto"``.
    """
    if rule not in RULES:
        raise ValueError(f"unknown scaling rule {rule!r}; choose one of: {', '.join(RULES)}")
    if rule != "auto":
        return rule
    if not optimizer:
        raise ValueError("rule='auto' needs the optimizer name to choose between linear and sqrt")
    if optimizers.OPTIMIZERS.tags(optimizer).get("wrapper"):
        raise ValueError(
            f"rule='auto' cannot tell from the wrapper {optimizer!r} whether the optimizer is "
            "adaptive: pass the name of the optimizer it wraps"
        )
    return "sqrt" if optimizers.is_adaptive(optimizer) else "linear"


def scale_by_batch(
    value: float,
    global_batch_size: int,
    base_batch_size: int = 256,
    rule: str = "linear",
    optimizer: str | None = None,
    name: str = "value",
) -> float:
    """Scales any hyper-parameter ``value`` tuned at ``base_batch_size`` by ``rule``.

    ``name`` is how error messages call ``value``.
    """
    value = check_float(name, value, positive=True)
    k = batch_ratio(global_batch_size, base_batch_size)
    rule = resolve_rule(rule, optimizer)
    if rule == "linear":
        return value * k
    if rule in ("sqrt", "malladi"):
        return value * math.sqrt(k)
    return value


def scale_learning_rate(
    base_lr: float,
    global_batch_size: int,
    base_batch_size: int = 256,
    rule: str = "linear",
    optimizer: str | None = None,
) -> float:
    """The learning rate for ``global_batch_size`` given ``base_lr`` tuned at ``base_batch_size``.

    Args:
        base_lr: learning rate that works at ``base_batch_size``.
        global_batch_size: batch summed over all replicas and workers.
        base_batch_size: batch at which ``base_lr`` was tuned (Goyal et al. use 256).
        rule: ``"linear"``, ``"sqrt"``, ``"none"`` or ``"auto"``.
        optimizer: registry name (``"lars"``, ``"adam"``...), used by ``"auto"``.

    Returns:
        The scaled learning rate.

    Raises:
        ValueError: a non-positive or non-finite number, an unknown rule, or
            ``"auto"`` without an optimizer.
    """
    return scale_by_batch(base_lr, global_batch_size, base_batch_size, rule, optimizer, "base_lr")


def scale_weight_decay(
    weight_decay: float,
    global_batch_size: int,
    base_batch_size: int = 256,
    rule: str = "none",
    optimizer: str | None = None,
) -> float:
    """Scales a weight-decay coefficient with the batch; by default it is unchanged.

    Decoupled weight decay in Keras (``AdamW``, ``weight_decay=`` on any optimizer)
    subtracts ``lr * weight_decay * w``, so it already grows with a scaled learning
    rate; that is the big_vision convention and why ``rule`` defaults to ``"none"``.
    Pass ``"linear"`` or ``"sqrt"`` to keep ``weight_decay`` per example constant
    for optimizers that apply decay without the learning rate.
    """
    if weight_decay == 0:
        batch_ratio(global_batch_size, base_batch_size)
        resolve_rule(rule, optimizer)
        return 0.0
    return scale_by_batch(
        weight_decay, global_batch_size, base_batch_size, rule, optimizer, "weight_decay"
    )


class AdamHyperparameters(NamedTuple):
    """Adam's hyper-parameters, as returned by :func:`scale_adam_hyperparameters`."""

    learning_rate: float
    beta_1: float
    beta_2: float
    epsilon: float


def scale_adam_hyperparameters(
    learning_rate: float,
    global_batch_size: int,
    base_batch_size: int = 256,
    beta_1: float = 0.9,
    beta_2: float = 0.999,
    epsilon: float = 1e-7,
) -> AdamHyperparameters:
    """The square-root scaling rule for Adam of Malladi et al. (2022).

    For a batch ``k`` times larger: ``lr * sqrt(k)``, ``beta -> 1 - k (1 - beta)``
    for both betas, and ``epsilon / sqrt(k)``. The rule keeps the SDE that Adam
    approximates unchanged; it holds while ``k (1 - beta) < 1``. Beyond that the
    scaled beta would be zero or negative and a ``ValueError`` says so (choose a
    smaller ratio or scale ``beta_1`` by hand).

    Example:
        >>> scale_adam_hyperparameters(1e-3, 1024, 256, beta_1=0.9, beta_2=0.999)
        AdamHyperparameters(learning_rate=0.002, beta_1=0.6, beta_2=0.996, epsilon=5e-08)
    """
    k = batch_ratio(global_batch_size, base_batch_size)
    learning_rate = check_float("learning_rate", learning_rate, positive=True)
    epsilon = check_float("epsilon", epsilon, positive=True)
    scaled_betas = []
    for name, beta in (("beta_1", beta_1), ("beta_2", beta_2)):
        beta = check_fraction(name, beta)
        scaled = 1.0 - k * (1.0 - beta)
        if scaled < 0 or (scaled == 0 and beta > 0):
            raise ValueError(
                f"the Adam square-root rule gives {name} = 1 - {k:g} * (1 - {beta}) = {scaled:g}, "
                f"outside [0, 1): the batch ratio {k:g} is too large for {name}={beta}"
            )
        scaled_betas.append(round(scaled, 12))
    root_k = math.sqrt(k)
    return AdamHyperparameters(
        learning_rate=learning_rate * root_k,
        beta_1=scaled_betas[0],
        beta_2=scaled_betas[1],
        epsilon=epsilon / root_k,
    )
