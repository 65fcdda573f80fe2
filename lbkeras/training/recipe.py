"""From a config to the optimizer and its schedule: the large-batch recipe in one place."""

from __future__ import annotations

import keras

from lbkeras import optimizers, schedules
from lbkeras.scaling import scale_learning_rate
from lbkeras.training.config import ExperimentConfig

# Optimizers whose `weight_decay` argument is lbkeras's coupled decay; the others get
# Keras's decoupled `weight_decay` (multiplied by the learning rate).
_COUPLED_DECAY = ("lars", "lamb")
_MOMENTUM_OPTIMIZERS = ("lars", "sgd", "momentum", "nesterov")


def peak_learning_rate(config: ExperimentConfig) -> float:
    """``base_learning_rate`` scaled from ``base_batch_size`` to the effective global batch."""
    return scale_learning_rate(
        config.base_learning_rate,
        config.global_batch_size * config.accumulation_steps,
        config.base_batch_size,
        rule=config.lr_scaling,
        optimizer=config.optimizer,
    )


def build_schedule(
    config: ExperimentConfig, total_steps: int, steps_per_epoch: int
) -> keras.optimizers.schedules.LearningRateSchedule:
    """Warmup to the peak rate, then the decay named by ``config.schedule``.

    Decays run over the steps after warmup (``Warmup(shift=True)``), except ``step``,
    whose ``decay_epochs`` count from the start of training (Goyal et al.).
    """
    peak = peak_learning_rate(config)
    warmup_steps = schedules.epochs_to_steps(config.warmup_epochs, steps_per_epoch)
    if warmup_steps >= total_steps:
        raise ValueError(
            f"warmup ({warmup_steps} steps) must be shorter than training ({total_steps} steps)"
        )
    decay_steps = total_steps - warmup_steps
    to_end = dict(
        initial_learning_rate=peak,
        decay_steps=decay_steps,
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
        "rsqrt": dict(initial_learning_rate=peak, timescale=max(1, warmup_steps)),
        "constant": dict(learning_rate=peak),
    }
    if config.schedule not in arguments:
        raise ValueError(
            f"unknown schedule {config.schedule!r}; choose one of: {', '.join(arguments)}"
        )
    if config.schedule == "step" and not config.decay_epochs:
        raise ValueError("schedule 'step' needs decay_epochs (Goyal et al.: 30,60,80)")
    decay = schedules.get(config.schedule, **arguments[config.schedule])
    shift = config.schedule != "step"
    return schedules.Warmup(
        decay,
        warmup_steps=warmup_steps,
        initial_learning_rate=config.warmup_initial_learning_rate,
        kind=config.warmup_kind,
        shift=shift,
    )


def build_optimizer(
    config: ExperimentConfig, schedule: keras.optimizers.schedules.LearningRateSchedule
) -> keras.optimizers.Optimizer:
    """The optimizer named by ``config.optimizer`` with the schedule and decay settings.

    LARS and LAMB exclude biases and normalisation parameters (all 1-D variables) from
    weight decay and layer adaptation by default, as the papers do. The wrappers of the
    config go around it: AGC (clips first), gradient noise, trust ratio, Lookahead, and
    gradient accumulation outermost.
    """
    name = config.optimizer.lower()
    kwargs = {"learning_rate": schedule}
    if config.weight_decay:
        kwargs["weight_decay"] = config.weight_decay
    if name in _MOMENTUM_OPTIMIZERS:
        kwargs["momentum"] = config.momentum
    if name in _COUPLED_DECAY:
        kwargs["exclude_1d_variables"] = True
    kwargs.update(config.optimizer_options)
    optimizer = optimizers.get(name, **kwargs)
    if config.gradient_noise_eta:
        optimizer = optimizers.GradientNoise(
            optimizer, eta=config.gradient_noise_eta, seed=config.seed
        )
    if config.agc_clipping:
        # Brock et al. leave the classifier unclipped; lbkeras models name it "logits".
        optimizer = optimizers.AdaptiveGradientClipping(
            optimizer, clipping=config.agc_clipping, exclude=["logits"]
        )
    if config.trust_ratio:
        optimizer = optimizers.TrustRatio(
            optimizer,
            trust_coefficient=config.trust_ratio,
            exclude_1d_variables=True,
            scale=config.trust_ratio_scale,
        )
    if config.lookahead_sync_period:
        optimizer = optimizers.Lookahead(optimizer, sync_period=config.lookahead_sync_period)
    if config.accumulation_steps > 1:
        optimizer = optimizers.GradientAccumulation(optimizer, steps=config.accumulation_steps)
    return optimizer
