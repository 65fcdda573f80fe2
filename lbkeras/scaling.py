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

When the batch changes during a run (a batch-size schedule,
:mod:`lbkeras.schedules.batch_size`), the same rules transfer the hyper-parameters
from the old batch to the new one, and two more keep a timescale in examples fixed:

* :func:`scale_beta_by_half_life` (Marek et al. 2025): ``beta_2 ** k`` keeps the
  half-life of Adam's second-moment average in examples.
* :func:`scale_weight_decay_by_timescale` (Bergsma et al. 2025): keeps the AdamW
  timescale ``B / (lr * wd * N)`` fixed.
* :func:`transfer_hyperparameters` applies the chosen rules at once and says what
  changed in one line for the log.

The rules compose (256 -> 512 -> 1024 gives what 256 -> 1024 gives). Optimizer state
carries over unchanged: a momentum averages batch-mean gradients, whose expectation does
not depend on the batch; Adam's second moment does (its noise part falls as 1/B), but
it forgets the old batch within its half-life, and correcting it would need the
gradient noise, which the optimizer does not know.

References:
    Goyal et al., "Accurate, Large Minibatch SGD: Training ImageNet in 1 Hour", 2017.
    Hoffer, Hubara, Soudry, "Train longer, generalize better", 2017.
    Malladi, Lyu, Panigrahi, Arora, "On the SDEs and Scaling Rules for Adaptive
    Gradient Algorithms", NeurIPS 2022.
    Marek et al., "Small Batch Size Training for Language Models: When Vanilla SGD
    Works, and Why Gradient Accumulation Is Wasteful", arXiv 2507.07101, 2025.
    Bergsma et al., "Power Lines: Scaling Laws for Weight Decay and Batch Size in LLM
    Pre-training", arXiv 2505.13738, 2025.

Example:
    >>> scale_learning_rate(0.1, 8192)  # Goyal: 0.1 at 256 -> 3.2 at 8k
    3.2
    >>> scale_learning_rate(1e-3, 1024, rule="sqrt")
    0.002
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from typing import NamedTuple

from lbkeras import optimizers
from lbkeras.checks import check_float, check_fraction, check_int

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


def half_life_in_examples(beta: float, batch_size: int) -> float:
    """Examples after which an EMA with decay ``beta`` per step of ``batch_size`` weighs
    a gradient half: ``batch_size * ln(1/2) / ln(beta)`` (0 for ``beta = 0``).

    Example:
        >>> round(half_life_in_examples(0.95, 512))  # GPT-3 XL's beta_2 (Marek et al.)
        6919
    """
    beta = check_fraction("beta", beta)
    batch_size = check_float("batch_size", batch_size, positive=True)
    return 0.0 if beta == 0 else batch_size * math.log(0.5) / math.log(beta)


def scale_beta_by_half_life(
    beta: float, global_batch_size: int, base_batch_size: int = 256
) -> float:
    """``beta ** k``, which keeps the EMA's half-life in examples (Marek et al. 2025).

    A step of a ``k`` times larger batch stands for ``k`` steps of the base batch, so
    the average decays by ``beta`` ``k`` times per step. Defined for any ``k > 0``
    (unlike Malladi's ``1 - k (1 - beta)``, which fails for ``k (1 - beta) >= 1``).

    Example:
        >>> scale_beta_by_half_life(0.999, 4096, 2048)
        0.998001
        >>> round(scale_beta_by_half_life(0.95, 1, 512), 4)  # B=1: their 0.9999
        0.9999
    """
    k = batch_ratio(global_batch_size, base_batch_size)
    return round(check_fraction("beta", beta) ** k, 15)


def scale_weight_decay_by_timescale(
    weight_decay: float,
    global_batch_size: int,
    base_batch_size: int = 256,
    learning_rate_ratio: float = 1.0,
) -> float:
    """The decoupled weight decay that keeps the AdamW timescale fixed (Bergsma et al. 2025).

    Keras's decoupled decay subtracts ``lr * wd * w`` per step, so its timescale in
    passes over ``N`` examples is ``tau = B / (lr * wd * N)``. Keeping it when the batch
    grows ``k``-fold and the rate ``learning_rate_ratio``-fold gives ``wd * k /
    learning_rate_ratio``: at a fixed rate the decay grows linearly with the batch, as
    Bergsma et al. found for the best decay; under the linear rule it stays.

    Example:
        >>> round(scale_weight_decay_by_timescale(0.1, 4096, 1024, learning_rate_ratio=2.0), 6)
        0.2
    """
    weight_decay = check_float("weight_decay", weight_decay)
    k = batch_ratio(global_batch_size, base_batch_size)
    return weight_decay * k / check_float("learning_rate_ratio", learning_rate_ratio, positive=True)


#: Rules of :func:`transfer_hyperparameters` for ``beta_2`` and for ``weight_decay``.
BETA_2_RULES = ("none", "half_life")
WEIGHT_DECAY_RULES = ("none", "timescale")
#: The hyper-parameters :func:`transfer_hyperparameters` knows.
TRANSFERABLE = ("learning_rate", "beta_1", "beta_2", "epsilon", "weight_decay")


@dataclasses.dataclass(frozen=True)
class Transfer:
    """The hyper-parameters ``before`` and ``after`` a change of the global batch from
    ``old_batch_size`` to ``new_batch_size``, and the rule that changed each (``rules``,
    only those that changed)."""

    old_batch_size: int
    new_batch_size: int
    before: dict[str, float]
    after: dict[str, float]
    rules: dict[str, str]

    @property
    def changed(self) -> dict[str, float]:
        """The new values of the hyper-parameters that changed."""
        return {name: self.after[name] for name in self.rules}

    @property
    def description(self) -> str:
        """One line for the log: ``batch 2048 -> 4096: learning_rate x 1.414 (sqrt), ...``;
        factors for the rate, epsilon and weight decay, values for the betas."""
        parts = []
        for name, rule in self.rules.items():
            old, new = self.before[name], self.after[name]
            if name.startswith("beta"):
                parts.append(f"{name} {old:.6g} -> {new:.6g} ({rule})")
            else:
                parts.append(f"{name} x {new / old:.4g} ({rule})")
        changes = ", ".join(parts) or "no hyper-parameter changes"
        return f"batch {self.old_batch_size} -> {self.new_batch_size}: {changes}"


def transfer_hyperparameters(
    hyperparameters: Mapping[str, float],
    old_batch_size: int,
    new_batch_size: int,
    rule: str = "sqrt",
    beta_2_rule: str = "none",
    weight_decay_rule: str = "none",
    optimizer: str | None = None,
) -> Transfer:
    """Every hyper-parameter for ``new_batch_size``, given its value at ``old_batch_size``.

    The learning rate follows ``rule`` (one of :data:`RULES`; ``"malladi"`` scales
    ``beta_1``, ``beta_2`` and ``epsilon`` too, with :func:`scale_adam_hyperparameters`);
    ``beta_2`` by ``beta_2_rule`` (``"half_life"``: :func:`scale_beta_by_half_life`);
    ``weight_decay`` by ``weight_decay_rule`` (``"timescale"``:
    :func:`scale_weight_decay_by_timescale`, with the rate's own change). The rest are
    unchanged. Keras's decoupled decay is multiplied by the rate, so with
    ``weight_decay_rule="none"`` it already follows the rate.

    Args:
        hyperparameters: values at ``old_batch_size`` by name, some of
            :data:`TRANSFERABLE`; ``learning_rate`` is required.
        old_batch_size: the global batch before the change.
        new_batch_size: the global batch after it.
        rule: the run's learning-rate rule.
        beta_2_rule: one of :data:`BETA_2_RULES`.
        weight_decay_rule: one of :data:`WEIGHT_DECAY_RULES`.
        optimizer: registry name of the optimizer, for ``rule="auto"``.

    Returns:
        A :class:`Transfer` with the new values and a line for the log.

    Raises:
        ValueError: an unknown name or rule, a rule without the hyper-parameter it
            scales, ``"malladi"`` with ``beta_2_rule="half_life"`` (both set ``beta_2``),
            or a batch ratio Malladi's rule cannot take.

    Example:
        >>> transfer = transfer_hyperparameters(
        ...     {"learning_rate": 1e-3, "beta_2": 0.999, "weight_decay": 0.1}, 2048, 4096,
        ...     rule="sqrt", beta_2_rule="half_life", weight_decay_rule="timescale")
        >>> print(transfer.description)
        batch 2048 -> 4096: learning_rate x 1.414 (sqrt), beta_2 0.999 -> 0.998001
        (half-life), weight_decay x 1.414 (timescale)
    """
    unknown = sorted(set(hyperparameters) - set(TRANSFERABLE))
    if unknown:
        raise ValueError(f"cannot transfer {unknown}; known: {', '.join(TRANSFERABLE)}")
    if "learning_rate" not in hyperparameters:
        raise ValueError("transfer_hyperparameters needs the learning_rate")
    for name, value, choices in (
        ("beta_2_rule", beta_2_rule, BETA_2_RULES),
        ("weight_decay_rule", weight_decay_rule, WEIGHT_DECAY_RULES),
    ):
        if value not in choices:
            raise ValueError(f"unknown {name} {value!r}; choose one of: {', '.join(choices)}")
    old_batch_size = check_int("old_batch_size", old_batch_size, positive=True)
    new_batch_size = check_int("new_batch_size", new_batch_size, positive=True)
    rule = resolve_rule(rule, optimizer)
    before = {name: float(value) for name, value in hyperparameters.items()}
    after = dict(before)
    rules: dict[str, str] = {}

    def needs(name: str, why: str) -> float:
        if name not in before:
            raise ValueError(f"{why} scales {name}: pass its value in hyperparameters")
        return before[name]

    if rule == "malladi":
        if beta_2_rule != "none":
            raise ValueError(
                "rule='malladi' already scales beta_2: use beta_2_rule='none', or rule='sqrt' "
                "with beta_2_rule='half_life'"
            )
        adam = scale_adam_hyperparameters(
            before["learning_rate"],
            new_batch_size,
            old_batch_size,
            beta_1=needs("beta_1", "rule='malladi'"),
            beta_2=needs("beta_2", "rule='malladi'"),
            epsilon=needs("epsilon", "rule='malladi'"),
        )
        after.update(adam._asdict())
        rules.update(dict.fromkeys(adam._fields, "malladi"))
    else:
        after["learning_rate"] = scale_learning_rate(
            before["learning_rate"], new_batch_size, old_batch_size, rule
        )
        rules["learning_rate"] = rule
    if beta_2_rule == "half_life":
        beta_2 = needs("beta_2", "beta_2_rule='half_life'")
        after["beta_2"] = scale_beta_by_half_life(beta_2, new_batch_size, old_batch_size)
        rules["beta_2"] = "half-life"
    if weight_decay_rule == "timescale":
        after["weight_decay"] = scale_weight_decay_by_timescale(
            needs("weight_decay", "weight_decay_rule='timescale'"),
            new_batch_size,
            old_batch_size,
            learning_rate_ratio=after["learning_rate"] / before["learning_rate"],
        )
        rules["weight_decay"] = "timescale"
    rules = {name: rule for name, rule in rules.items() if after[name] != before[name]}
    return Transfer(old_batch_size, new_batch_size, before, after, rules)
