"""From a config to the optimizer and its schedule: the large-batch recipe in one place.

Example:
    >>> config = ExperimentConfig(optimizer="lookahead", optimizer_options={
    ...     "optimizer": "lamb", "sync_period": 5}, lr_scaling="auto", weight_decay=0.01)
    >>> base_optimizer_name(config)
    'lamb'
    >>> base_learning_rate(config)  # LAMB's default (per 256)
    0.001
    >>> peak_learning_rate(config)  # sqrt rule: 0.001 * sqrt(2048 / 256)
    0.0028284271247461905
    >>> optimizer = build_optimizer(config, learning_rate=0.1)
    >>> type(optimizer).__name__, type(optimizer.inner_optimizer).__name__
    ('Lookahead', 'LAMB')
"""

from __future__ import annotations

import inspect
from typing import Any

import keras

from lbkeras import monitoring, optimizers, schedules
from lbkeras.scaling import scale_adam_hyperparameters, scale_learning_rate
from lbkeras.training.config import ExperimentConfig

LearningRate = float | keras.optimizers.schedules.LearningRateSchedule


def named_chain(config: ExperimentConfig) -> list[tuple[str, dict[str, Any]]]:
    """``(name, options)`` of ``config.optimizer`` and, for a wrapper, of the optimizer it
    wraps (``optimizer_options["optimizer"]``), recursively, outermost first."""
    chain = [(config.optimizer, dict(config.optimizer_options))]
    while optimizers.OPTIMIZERS.tags(chain[-1][0]).get("wrapper"):
        options = chain[-1][1]
        chain.append(
            (
                options.get("optimizer", optimizers.DEFAULT_INNER_OPTIMIZER),
                dict(options.get("optimizer_options", {})),
            )
        )
    return chain


def base_optimizer_name(config: ExperimentConfig) -> str:
    """The optimizer that takes the learning rate: the innermost of :func:`named_chain`."""
    return named_chain(config)[-1][0]


def accumulation_steps(config: ExperimentConfig) -> int:
    """Micro-batches per optimizer update: ``config.accumulation_steps`` times the
    ``steps`` of a ``gradient_accumulation`` named in :func:`named_chain`."""
    steps = config.accumulation_steps
    default = inspect.signature(optimizers.GradientAccumulation).parameters["steps"].default
    for name, options in named_chain(config):
        if name == "gradient_accumulation":
            named = options.get("steps", default)
            if isinstance(named, bool) or not isinstance(named, int) or named < 1:
                raise ValueError(
                    "the trainer needs gradient_accumulation's steps as a positive int (a "
                    f"schedule of steps is for the Python API), got {named!r}"
                )
            steps *= named
    return steps


def effective_batch_size(config: ExperimentConfig) -> int:
    """Examples per optimizer update: the global batch times :func:`accumulation_steps`."""
    return config.global_batch_size * accumulation_steps(config)


def base_learning_rate(config: ExperimentConfig) -> float:
    """The learning rate at ``base_batch_size``: ``config.base_learning_rate``, or if that
    is 0 (not given), the default (:func:`lbkeras.optimizers.default_learning_rate`) of the
    outermost optimizer of :func:`named_chain` that has one (the optimizer that takes the
    rate, or a wrapper that sets the step size itself), scaled by ``lr_scaling`` from the
    batch that default is for to ``base_batch_size``."""
    if config.base_learning_rate:
        return config.base_learning_rate
    name = next(n for n, _ in named_chain(config) if optimizers.has_default_learning_rate(n))
    rate, batch = optimizers.default_learning_rate(name)
    return scale_learning_rate(
        rate,
        config.base_batch_size,
        batch,
        rule=config.lr_scaling,
        optimizer=base_optimizer_name(config),
    )


def peak_learning_rate(config: ExperimentConfig) -> float:
    """:func:`base_learning_rate` scaled from ``base_batch_size`` to the effective global
    batch (with AdaScale, unscaled: the gain scales each step)."""
    if config.adascale:
        return base_learning_rate(config)
    return scale_learning_rate(
        base_learning_rate(config),
        effective_batch_size(config),
        config.base_batch_size,
        rule=config.lr_scaling,
        optimizer=base_optimizer_name(config),
    )


#: The hyper-parameters the Malladi rule scales besides the learning rate.
ADAM_HYPERPARAMETERS = ("beta_1", "beta_2", "epsilon")


def adam_scaling(config: ExperimentConfig) -> dict[str, float]:
    """With ``lr_scaling="malladi"``, the betas and epsilon of the optimizer that takes
    the learning rate at the effective batch (:func:`~lbkeras.scaling.scale_adam_hyperparameters`,
    from the values in ``optimizer_options`` or the optimizer's defaults, which are then
    the base batch's); otherwise nothing.

    Raises:
        ValueError: the optimizer has no betas and epsilon, or the batch ratio is too
            large for its betas.
    """
    if config.lr_scaling != "malladi" or config.adascale:
        return {}
    name, options = named_chain(config)[-1]
    parameters = inspect.signature(optimizers.OPTIMIZERS.factory(name)).parameters
    missing = [p for p in ADAM_HYPERPARAMETERS if p not in parameters]
    if missing:
        raise ValueError(
            f"lr_scaling='malladi' scales Adam's betas and epsilon; {name!r} has no "
            f"{', '.join(missing)}: use an Adam-like optimizer or --lr_scaling=sqrt"
        )
    base = {p: options.get(p, parameters[p].default) for p in ADAM_HYPERPARAMETERS}
    batch = effective_batch_size(config)
    scaled = scale_adam_hyperparameters(1.0, batch, config.base_batch_size, **base)
    return {p: getattr(scaled, p) for p in ADAM_HYPERPARAMETERS}


def warmup_steps(config: ExperimentConfig, steps_per_epoch: int) -> int:
    """The warmup's length in optimizer steps."""
    return schedules.epochs_to_steps(config.warmup_epochs, steps_per_epoch)


def build_schedule(
    config: ExperimentConfig, total_steps: int, steps_per_epoch: int
) -> keras.optimizers.schedules.LearningRateSchedule:
    """Warmup to the peak rate, then the decay named by ``config.schedule``.

    ``total_steps`` and ``steps_per_epoch`` count optimizer updates. Decays run over the
    steps after warmup (``Warmup(shift=True)``), except ``step``, whose
    ``decay_epochs`` count from the start of training (Goyal et al.).
    """
    peak = peak_learning_rate(config)
    warmup = warmup_steps(config, steps_per_epoch)
    if warmup >= total_steps:
        raise ValueError(
            f"warmup ({warmup} steps) must be shorter than training ({total_steps} steps): "
            "lower --warmup_epochs or raise --epochs"
        )
    to_end = dict(
        initial_learning_rate=peak,
        decay_steps=total_steps - warmup,
        end_learning_rate=config.end_learning_rate,
    )
    arguments = {
        "polynomial": dict(to_end, power=config.schedule_power),
        "linear": to_end,
        "cosine": to_end,
        "step": dict(
            initial_learning_rate=peak,
            boundaries=schedules.epochs_to_steps(list(config.decay_epochs), steps_per_epoch),
            decay_rate=config.decay_rate,
        ),
        "rsqrt": dict(initial_learning_rate=peak, timescale=max(1, warmup)),
        "constant": dict(learning_rate=peak),
    }
    if config.schedule == "step" and not config.decay_epochs:
        raise ValueError("schedule 'step' needs --decay_epochs (Goyal et al.: 30,60,80)")
    return schedules.Warmup(
        schedules.get(config.schedule, **arguments[config.schedule]),
        warmup_steps=warmup,
        initial_learning_rate=config.warmup_initial_learning_rate,
        kind=config.warmup_kind,
        shift=config.schedule != "step",
    )


def build_optimizer(
    config: ExperimentConfig, learning_rate: LearningRate, monitor_capacity: int = 64
) -> keras.optimizers.Optimizer:
    """The optimizer named by ``config.optimizer``, any registered name, wrappers included.

    The optimizer that takes the learning rate (a wrapper's inner one, named by
    ``optimizer_options["optimizer"]``) gets ``learning_rate``, ``weight_decay`` and,
    if it has one, ``momentum``; LARS and LAMB (the ``layerwise`` ones) also exclude
    biases and normalisation parameters (all 1-D variables) from weight decay and layer
    adaptation, as the papers do. ``optimizer_options`` override all of these, except
    that with ``lr_scaling="malladi"`` the betas and epsilon given there are the base
    batch's, and the optimizer gets them scaled (:func:`adam_scaling`). The
    wrapper flags of the config then go around it: gradient noise, AGC, trust ratio,
    Lookahead, ``AdaScale``, then ``GradientStatistics`` if ``monitor_every_steps`` (holding
    ``monitor_capacity`` rows between two reads), and gradient accumulation outermost.
    """
    optimizer = _named(config, learning_rate)
    if config.gradient_noise_eta:
        optimizer = optimizers.GradientNoise(
            optimizer, eta=config.gradient_noise_eta, seed=config.seed
        )
    if config.agc:
        # Brock et al. leave the classifier unclipped; lbkeras models name it "logits".
        optimizer = optimizers.AdaptiveGradientClipping(
            optimizer, clipping=config.agc, exclude=["logits"]
        )
    if config.trust_ratio:
        optimizer = optimizers.TrustRatio(
            optimizer,
            trust_coefficient=config.trust_ratio,
            exclude_1d_variables=True,
            scale=config.trust_ratio_scale,
        )
    if config.lookahead:
        optimizer = optimizers.Lookahead(optimizer, sync_period=config.lookahead)
    if config.adascale:
        optimizer = optimizers.AdaScale(
            optimizer, scale=effective_batch_size(config) / config.base_batch_size
        )
    if config.monitor_every_steps:
        optimizer = monitoring.GradientStatistics(
            optimizer, every_steps=config.monitor_every_steps, capacity=monitor_capacity
        )
    if config.accumulation_steps > 1:
        optimizer = optimizers.GradientAccumulation(optimizer, steps=config.accumulation_steps)
    return optimizer


def _named(config: ExperimentConfig, learning_rate: LearningRate) -> keras.optimizers.Optimizer:
    """The optimizers of :func:`named_chain`, built innermost first, each wrapping the last."""
    *wrappers, (name, options) = named_chain(config)
    tags = optimizers.OPTIMIZERS.tags(name)
    arguments: dict[str, Any] = {"learning_rate": learning_rate}
    if config.weight_decay:
        arguments["weight_decay"] = config.weight_decay
    if tags.get("momentum"):
        arguments["momentum"] = config.momentum
    if tags.get("layerwise"):
        arguments["exclude_1d_variables"] = True
    optimizer = optimizers.get(name, **{**arguments, **options, **adam_scaling(config)})
    for name, options in reversed(wrappers):
        own = {k: v for k, v in options.items() if k not in ("optimizer", "optimizer_options")}
        optimizer = optimizers.get(name, optimizer=optimizer, **own)
    return optimizer
