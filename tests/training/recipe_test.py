"""The recipe: scaled peak rate, warmup + decay, optimizer settings; against formulas."""

import dataclasses

import keras
import numpy as np
import pytest

from lbkeras import optimizers
from lbkeras.training import ExperimentConfig, build_optimizer, build_schedule, plan
from lbkeras.training.recipe import peak_learning_rate


def _values(schedule, steps):
    return np.array([float(schedule(s)) for s in steps])


def test_goyal_resnet50_8k():
    # Goyal et al.: 0.1 per 256 -> 3.2 at 8k; gradual warmup from 0.1 over 5 epochs;
    # /10 at epochs 30, 60, 80 of 90 (boundaries counted from step 0).
    config = ExperimentConfig(
        global_batch_size=8192,
        base_learning_rate=0.1,
        optimizer="momentum",
        schedule="step",
        decay_epochs=(30.0, 60.0, 80.0),
        warmup_epochs=5.0,
        warmup_initial_learning_rate=0.1,
        epochs=90.0,
        weight_decay=1e-4,
    )
    steps_per_epoch = 1_281_167 // 8192  # 156
    schedule = build_schedule(config, 90 * steps_per_epoch, steps_per_epoch)
    assert peak_learning_rate(config) == pytest.approx(3.2)
    steps = np.arange(0, 90 * steps_per_epoch, 7)
    expected = np.where(
        steps < 5 * steps_per_epoch,
        0.1 + (3.2 - 0.1) * steps / (5 * steps_per_epoch),
        3.2 * 0.1 ** ((steps >= 30 * 156).astype(int) + (steps >= 60 * 156) + (steps >= 80 * 156)),
    )
    np.testing.assert_allclose(_values(schedule, steps), expected, rtol=1e-5)


def test_lars_polynomial_power_two_after_warmup():
    config = ExperimentConfig(global_batch_size=2048, base_learning_rate=1.0, warmup_epochs=2.0)
    schedule = build_schedule(config, total_steps=100, steps_per_epoch=10)
    steps = np.arange(100)
    expected = np.where(steps < 20, 8.0 * steps / 20, 8.0 * (1 - (steps - 20) / 80) ** 2)
    np.testing.assert_allclose(_values(schedule, steps), expected, rtol=1e-5, atol=1e-6)


def test_cosine_and_sqrt_rule_for_lamb():
    config = ExperimentConfig(
        optimizer="lamb",
        lr_scaling="auto",
        base_learning_rate=1e-3,
        global_batch_size=4096,
        schedule="cosine",
        warmup_epochs=1.0,
    )
    peak = 1e-3 * 4.0  # sqrt(4096 / 256)
    schedule = build_schedule(config, total_steps=50, steps_per_epoch=10)
    steps = np.arange(50)
    expected = np.where(
        steps < 10, peak * steps / 10, peak * 0.5 * (1 + np.cos(np.pi * (steps - 10) / 40))
    )
    np.testing.assert_allclose(_values(schedule, steps), expected, rtol=1e-5, atol=1e-9)


def test_optimizer_settings():
    config = ExperimentConfig(
        weight_decay=5e-4, momentum=0.8, optimizer_options={"trust_coefficient": 0.002}
    )
    optimizer = build_optimizer(config, keras.optimizers.schedules.ExponentialDecay(1.0, 1, 1.0))
    assert isinstance(optimizer, optimizers.LARS)
    assert (optimizer.weight_decay, optimizer.momentum) == (5e-4, 0.8)
    assert optimizer.trust_coefficient == 0.002 and optimizer.exclude_1d_variables
    adamw = build_optimizer(config.replace(optimizer="adamw", optimizer_options={}), 1e-3)
    assert type(adamw) is keras.optimizers.AdamW and adamw.weight_decay == 5e-4


def test_bad_recipes():
    with pytest.raises(ValueError, match="decay_epochs"):
        build_schedule(ExperimentConfig(schedule="step"), 100, 10)
    with pytest.raises(ValueError, match="shorter than training"):
        build_schedule(ExperimentConfig(warmup_epochs=20.0), 100, 10)
    with pytest.raises(ValueError, match="unknown schedule"):
        build_schedule(ExperimentConfig(schedule="triangle"), 100, 10)
    with pytest.raises(ValueError, match="choose one of"):
        build_optimizer(ExperimentConfig(optimizer="lbfgs"), 0.1)


def test_plan_steps_and_batch_split():
    p = plan(ExperimentConfig(global_batch_size=2048, epochs=25.0), 16_000, num_replicas=2)
    assert (p.steps_per_epoch, p.epochs, p.total_steps, p.per_replica_batch_size) == (
        7,
        25,
        175,
        1024,
    )
    p = plan(ExperimentConfig(train_steps=30), 16_000, num_replicas=1)
    assert (p.total_steps, p.steps_per_epoch, p.epochs) == (30, 6, 5)
    p = plan(ExperimentConfig(epochs=2.5), 16_000, num_replicas=1)
    assert (p.total_steps, p.steps_per_epoch, p.epochs) == (18, 6, 3)
    with pytest.raises(ValueError, match="not divisible by the 3 replicas"):
        plan(ExperimentConfig(global_batch_size=2048), 16_000, num_replicas=3)


def test_wrappers_go_around_the_optimizer_in_order():
    config = ExperimentConfig(
        optimizer="momentum",
        gradient_noise_eta=0.3,
        agc_clipping=0.02,
        trust_ratio=0.001,
        lookahead_sync_period=5,
        seed=4,
    )
    optimizer = build_optimizer(config, 0.1)
    chain = []
    while hasattr(optimizer, "inner_optimizer"):
        chain.append(type(optimizer).__name__)
        optimizer = optimizer.inner_optimizer
    assert chain == ["Lookahead", "TrustRatio", "AdaptiveGradientClipping", "GradientNoise"]
    assert type(optimizer) is keras.optimizers.SGD and optimizer.momentum == 0.9
    assert build_optimizer(config, 0.1).inner_optimizer.scale == "update"
    lars_like = dataclasses.replace(config, lookahead_sync_period=0, trust_ratio_scale="gradient")
    assert build_optimizer(lars_like, 0.1).scale == "gradient"
    with pytest.raises(ValueError, match="trust_ratio_scale"):
        dataclasses.replace(config, trust_ratio_scale="both")
