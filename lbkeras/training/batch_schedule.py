"""A run's batch-size schedule: built from the config, and what changes with the batch.

``--batch_schedule=NAME`` with ``--batch_schedule_options=JSON`` names a schedule of
:mod:`lbkeras.schedules.batch_size`; :func:`build_batch_schedule` fills in what the
run knows (the replicas every batch must split over, the training examples of a pass,
``--global_batch_size`` as the ramp's target or Seesaw's cap) and checks that the
largest batch is ``--global_batch_size``: the batch memory must hold, and the one the
base learning rate is scaled to for the peak of the schedule.

At a change of the batch from ``B`` to ``B'`` every hyper-parameter transfers
(:func:`lbkeras.scaling.transfer_hyperparameters`): the learning rate by
``--lr_scaling`` (with ``malladi`` also Adam's betas and epsilon), ``beta_2`` by
``--beta_2_rule``, the weight decay by ``--weight_decay_rule``. Each stage's values are
transferred from the peak batch (:func:`stage_transfers`); rules compose, so that is
the same as transferring from stage to stage. The learning rate is then
:class:`~lbkeras.schedules.ExamplesKeyed`: the config's warmup and decay written in
examples (a "step" of one example: ``--warmup_epochs`` passes of warmup are the same
examples at any batch) times each stage's transfer factor (Seesaw: its own factor,
which holds the transfer of its doublings and the decay they replace).

Optimizer state (the momenta, Adam's moments) carries over unchanged: they are
exponential averages of the gradient and its square, whose expectations do not depend
on the batch (only their noise does), so they are as good an estimate after the change
as before; resetting them would restart Adam's bias correction and spike the update.
This is what Megatron-LM, NeMo and OLMo-core do at a ramp.

Example:
    >>> config = ExperimentConfig(batch_schedule="ramp", global_batch_size=2048,
    ...     batch_schedule_options={"start_batch_size": 512, "ramp_examples": 32000,
    ...                             "doubling": True})
    >>> schedule = build_batch_schedule(config, num_train=16_000, num_replicas=2)
    >>> [(s.first_step, s.batch_size, s.steps) for s in schedule.stages(64_000)]
    [(0, 512, 32), (32, 1024, 16), (48, 2048, 16)]
    >>> for transfer in stage_transfers(config, schedule.stages(64_000)):
    ...     print(transfer.description)
    batch 2048 -> 512: learning_rate x 0.25 (linear)
    batch 512 -> 1024: learning_rate x 2 (linear)
    batch 1024 -> 2048: learning_rate x 2 (linear)
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from typing import Any

from lbkeras import optimizers
from lbkeras.scaling import Transfer, resolve_rule, scale_learning_rate, transfer_hyperparameters
from lbkeras.schedules import ExamplesKeyed
from lbkeras.schedules.batch_size import (
    AdaptiveBatchSize,
    BatchSizeSchedule,
    SeesawBatchSize,
    Stage,
)
from lbkeras.schedules.batch_size import get as get_batch_schedule
from lbkeras.training.config import ExperimentConfig
from lbkeras.training.recipe import (
    adam_scaling,
    base_optimizer_name,
    build_schedule,
    named_chain,
    peak_learning_rate,
)

#: The option of each schedule that ``--global_batch_size`` fills in when it is not given.
LARGEST_BATCH_OPTION = {
    "constant": "batch_size",
    "ramp": "batch_size",
    "seesaw": "max_batch_size",
    "adaptive": "max_batch_size",
}


def scheduled(config: ExperimentConfig) -> bool:
    """Whether the run's global batch follows a schedule (not ``constant``)."""
    return config.batch_schedule != "constant"


def check_batch_schedule(config: ExperimentConfig) -> None:
    """Refuses what a batch schedule cannot be combined with, naming the fix.

    Raises:
        ValueError: gradient accumulation, AdaScale or ``train_steps`` with a schedule;
            Seesaw with a decaying ``--schedule``, Malladi's rule or the timescale rule;
            a transfer rule without a schedule.
    """
    if not scheduled(config):
        for name in ("beta_2_rule", "weight_decay_rule"):
            if getattr(config, name) != "none":
                raise ValueError(
                    f"--{name} transfers a hyper-parameter when the batch changes: it needs a "
                    "--batch_schedule other than constant"
                )
        return
    refusals = {
        "accumulation_steps": (
            config.accumulation_steps > 1,
            "gradient accumulation grows the batch its own way: use one of them",
        ),
        "adascale": (config.adascale, "AdaScale follows its own schedule at one batch"),
        "train_steps": (
            config.train_steps > 0,
            "steps depend on the batch: give the length as --epochs or --train_tokens",
        ),
    }
    for name, (refused, fix) in refusals.items():
        if refused:
            raise ValueError(
                f"--{name}={getattr(config, name)} with --batch_schedule="
                f"{config.batch_schedule}: {fix}"
            )
    if any(name == "gradient_accumulation" for name, _ in named_chain(config)):
        raise ValueError(
            "gradient_accumulation with --batch_schedule: accumulation grows the batch its own "
            "way; use one of them"
        )
    if config.batch_schedule == "adaptive" and not config.monitor_every_steps:
        raise ValueError(
            "--batch_schedule=adaptive grows the batch on the measured gradient noise scale: set "
            "--monitor_every_steps=1 (with 2 or more replicas, e.g. --strategy=mirrored)"
        )
    if config.batch_schedule == "seesaw":
        if config.schedule != "constant":
            raise ValueError(
                f"--batch_schedule=seesaw replaces the decay (its boundaries halve the rate): "
                f"use --schedule=constant, not {config.schedule}"
            )
        if config.lr_scaling == "malladi" or config.weight_decay_rule != "none":
            raise ValueError(
                "Seesaw transfers the learning rate by its own rule: use --lr_scaling=sqrt "
                "(with --beta_2_rule=half_life for Adam) and --weight_decay_rule=none"
            )


def build_batch_schedule(
    config: ExperimentConfig,
    num_train: int,
    num_replicas: int,
    state: dict[str, Any] | None = None,
) -> BatchSizeSchedule:
    """The config's batch-size schedule for ``num_train`` examples over ``num_replicas``;
    an adaptive one with the ``state`` (its decisions so far) a backup kept.

    Raises:
        ValueError: bad options (the schedule's own message), a largest batch that is
            not ``--global_batch_size``, or an adaptive schedule on one replica.
    """
    check_batch_schedule(config)
    options = dict(config.batch_schedule_options)
    options.setdefault("multiple_of", num_replicas)
    if config.batch_schedule == "adaptive":
        if num_replicas < 2:
            raise ValueError(
                "--batch_schedule=adaptive needs the gradient noise scale, measured from 2 or "
                "more replicas: use --strategy=mirrored (--devices=2 on a CPU) or more workers"
            )
        options.setdefault("check_every", num_train)
        options.setdefault("smoothing", 0.0)  # fed once a loop, a loop's mean already
        if state is not None:
            options["state"] = state
    largest_option = LARGEST_BATCH_OPTION.get(config.batch_schedule)
    if largest_option:
        options.setdefault(largest_option, config.global_batch_size)
    if config.batch_schedule == "steps" and "passes" in options:
        options.setdefault("num_train", num_train)
    schedule = get_batch_schedule(config.batch_schedule, **options)
    largest = (
        schedule.max_batch_size
        if isinstance(schedule, AdaptiveBatchSize)
        else max(batch for _, batch in schedule.change_points())
    )
    if largest != config.global_batch_size:
        raise ValueError(
            f"the batch schedule's largest batch is {largest}, --global_batch_size is "
            f"{config.global_batch_size}: they must agree (--global_batch_size={largest}, or "
            "change the schedule's options)"
        )
    return schedule


def hyperparameters_at_peak(config: ExperimentConfig) -> dict[str, float]:
    """The transferable hyper-parameters at ``--global_batch_size``: the peak learning
    rate and, where the optimizer that takes the rate has them, its betas, epsilon
    (Malladi-scaled to the peak batch) and weight decay."""
    name, options = named_chain(config)[-1]
    parameters = inspect.signature(optimizers.OPTIMIZERS.factory(name)).parameters
    values = {"learning_rate": peak_learning_rate(config)}
    scaled = adam_scaling(config)
    for key in ("beta_1", "beta_2", "epsilon"):
        if key in parameters and isinstance(parameters[key].default, float):
            values[key] = float(scaled.get(key, options.get(key, parameters[key].default)))
    if "weight_decay" in parameters:
        values["weight_decay"] = float(options.get("weight_decay", config.weight_decay))
    return values


def stage_transfers(config: ExperimentConfig, stages: Sequence[Stage]) -> list[Transfer]:
    """What transfers at the start of each stage: the first stage's hyper-parameters from
    the peak batch's, each next stage's from the stage before (the rules compose, so
    ``after`` is the same as transferred from the peak). For Seesaw the learning rate is
    left to its factor (``rule="none"``).

    Raises:
        ValueError: a rule for a hyper-parameter the optimizer does not have.
    """
    peak = hyperparameters_at_peak(config)
    rule = "none" if config.batch_schedule == "seesaw" else config.lr_scaling
    used = {"learning_rate", *(("beta_1", "beta_2", "epsilon") if rule == "malladi" else ())}
    if config.beta_2_rule != "none":
        used.add("beta_2")
    if config.weight_decay_rule != "none":
        used.add("weight_decay")
    missing = sorted(used - set(peak))
    if missing:
        raise ValueError(
            f"{base_optimizer_name(config)!r} has no {', '.join(missing)} to transfer: drop "
            "--beta_2_rule / --weight_decay_rule, or use an optimizer that has them"
        )
    values, batch = {key: peak[key] for key in used}, config.global_batch_size
    transfers = []
    for stage in stages:
        transfers.append(
            transfer_hyperparameters(
                values,
                batch,
                stage.batch_size,
                rule=rule,
                beta_2_rule=config.beta_2_rule,
                weight_decay_rule=config.weight_decay_rule,
                optimizer=base_optimizer_name(config),
            )
        )
        values, batch = transfers[-1].after, stage.batch_size
    return transfers


def learning_rate_factors(
    config: ExperimentConfig, schedule: BatchSizeSchedule, stages: Sequence[Stage]
) -> list[tuple[int, float]]:
    """``[(examples, factor), ...]``: the learning rate's factor on the peak schedule from
    ``examples`` on: each stage's transfer, or Seesaw's factor at each of its boundaries
    (its rate at the start batch, by the run's rule, times its own factor)."""
    if isinstance(schedule, SeesawBatchSize):
        start = scale_learning_rate(
            1.0,
            schedule.batch_size,
            config.global_batch_size,
            rule=resolve_rule(config.lr_scaling, base_optimizer_name(config)),
        )
        points = [0, *schedule.boundaries]
        return [(point, start * schedule.learning_rate_factor(point)) for point in points]
    peak = peak_learning_rate(config)
    return [
        (stage.first_example, transfer.after["learning_rate"] / peak)
        for stage, transfer in zip(stages, stage_transfers(config, stages))
    ]


def learning_rate(
    config: ExperimentConfig,
    schedule: BatchSizeSchedule,
    stages: Sequence[Stage],
    num_train: int,
    total_examples: int,
) -> ExamplesKeyed:
    """The run's learning rate: warmup and decay over ``total_examples`` examples (a pass
    being ``num_train``), times :func:`learning_rate_factors`, at the steps of ``stages``."""
    per_example = build_schedule(config, total_examples, num_train)
    return ExamplesKeyed(per_example, stages, learning_rate_factors(config, schedule, stages))
