"""The recipe: scaled peak rate, warmup + decay, optimizer settings; against formulas."""

import dataclasses

import keras
import numpy as np
import pytest

from lbkeras import optimizers
from lbkeras.training import ExperimentConfig, build_optimizer, build_schedule, plan
from lbkeras.training.recipe import (
    accumulation_steps,
    base_optimizer_name,
    effective_batch_size,
    peak_learning_rate,
)


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
    with pytest.raises(
        ValueError,
        match=r"warmup \(200 steps\) must be shorter than training \(100 steps\): "
        "lower --warmup_epochs or raise --epochs",
    ):
        build_schedule(ExperimentConfig(warmup_epochs=20.0), 100, 10)
    with pytest.raises(ValueError, match="choose one of"):
        build_optimizer(ExperimentConfig(optimizer="lbfgs"), 0.1)


def test_plan_epochs_are_passes_over_the_data():
    # N = 16,000, B = 2048: 7.8125 steps per pass; 25 passes are round(195.3) steps.
    p = plan(ExperimentConfig(global_batch_size=2048, epochs=25.0), 16_000, num_replicas=2)
    assert (p.total_steps, p.steps_per_loop, p.loops, p.per_replica_batch_size) == (
        195,
        8,
        25,
        1024,
    )
    assert p.steps_per_pass == 7.8125 and p.passes == pytest.approx(24.96)
    assert [p.loop_end(loop) for loop in (0, 23, 24)] == [8, 192, 195]  # the last loop is short
    # A run resumed at loop 25 (finished) starts at the end, not at 25 x 8 = 200.
    assert [p.loop_start(loop) for loop in (0, 24, 25)] == [0, 192, 195]
    assert p.warmup_steps == 39  # 5 passes: round(39.06)
    p = plan(ExperimentConfig(train_steps=30), 16_000, num_replicas=1)
    assert (p.total_steps, p.steps_per_loop, p.loops) == (30, 8, 4)
    p = plan(ExperimentConfig(epochs=2.5), 16_000, num_replicas=1)
    assert (p.total_steps, p.steps_per_loop, p.loops) == (20, 8, 3)
    p = plan(ExperimentConfig(steps_per_loop=5), 16_000, num_replicas=1)
    assert (p.total_steps, p.steps_per_loop, p.loops) == (195, 5, 39)
    with pytest.raises(ValueError, match="not divisible by the 3 replicas"):
        plan(ExperimentConfig(global_batch_size=2048), 16_000, num_replicas=3)


def test_plan_counts_accumulated_updates():
    # Effective batch 4096: 3.90625 updates per pass, 25 passes are 98 updates of 2 micro-batches.
    p = plan(ExperimentConfig(accumulation_steps=2), 16_000, num_replicas=1)
    assert (p.total_steps, p.steps_per_loop, p.fit_steps_per_loop, p.total_fit_steps) == (
        98,
        4,
        8,
        196,
    )
    assert p.loops == 25 and [p.fit_steps_before(loop) for loop in (1, 24, 25)] == [8, 192, 196]


def test_plan_beyond_one_pass_per_step():
    # B = 8192 on 16,000 examples: 1.95 steps per pass; 30 passes are 59 steps, not 30.
    p = plan(ExperimentConfig(global_batch_size=8192, epochs=30.0), 16_000, num_replicas=1)
    assert (p.total_steps, p.steps_per_loop, p.loops) == (59, 2, 30)


def test_wrappers_go_around_the_optimizer_in_order():
    config = ExperimentConfig(
        optimizer="momentum",
        gradient_noise_eta=0.3,
        agc=0.02,
        trust_ratio=0.001,
        lookahead=5,
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
    lars_like = dataclasses.replace(config, lookahead=0, trust_ratio_scale="gradient")
    assert build_optimizer(lars_like, 0.1).scale == "gradient"
    with pytest.raises(ValueError, match="trust_ratio_scale"):
        dataclasses.replace(config, trust_ratio_scale="both")


def test_wrappers_by_name_take_their_inner_optimizer_from_the_options():
    config = ExperimentConfig(
        optimizer="lookahead",
        optimizer_options={
            "optimizer": "gradient_accumulation",
            "optimizer_options": {
                "optimizer": "lars",
                "optimizer_options": {"trust_coefficient": 0.01},
                "steps": 3,
            },
            "sync_period": 4,
        },
        weight_decay=1e-4,
        momentum=0.8,
        lr_scaling="auto",
    )
    lookahead = build_optimizer(config, 0.5)
    assert type(lookahead) is optimizers.Lookahead and lookahead.sync_period == 4
    accumulation = lookahead.inner_optimizer
    assert type(accumulation) is optimizers.GradientAccumulation and accumulation.steps == 3
    lars = accumulation.inner_optimizer
    assert type(lars) is optimizers.LARS and lars.trust_coefficient == 0.01
    assert (lars.weight_decay, lars.momentum, lars.exclude_1d_variables) == (1e-4, 0.8, True)
    assert base_optimizer_name(config) == "lars"
    assert accumulation_steps(config) == 3 and effective_batch_size(config) == 6144
    assert peak_learning_rate(config) == 24.0  # auto: LARS is linear, 1.0 * 6144 / 256


def test_a_wrapper_without_an_inner_optimizer_wraps_sgd():
    config = ExperimentConfig(optimizer="agc", optimizer_options={"clipping": 0.05})
    agc = build_optimizer(config, 0.1)
    assert type(agc.inner_optimizer) is keras.optimizers.SGD and agc.clipping == 0.05
    assert agc.inner_optimizer.momentum == 0.9  # SGD takes --momentum
    with pytest.raises(ValueError, match="unknown optimizer 'adamm'"):
        base_optimizer_name(config.replace(optimizer_options={"optimizer": "adamm"}))


@pytest.mark.parametrize("name", ["adam", "adamw", "lamb"])
def test_malladi_rule_scales_the_betas_and_epsilon(name):
    # Malladi et al. 2022 at k = 4: lr * 2, 1 - beta * 4, epsilon / 2 (by hand, from the
    # paper's rule); betas given in optimizer_options are the base batch's.
    config = ExperimentConfig(
        optimizer=name,
        optimizer_options={"beta_1": 0.95, "epsilon": 1e-6},
        lr_scaling="malladi",
        base_learning_rate=1e-3,
        base_batch_size=256,
        global_batch_size=1024,
        weight_decay=0.0,
    )
    assert peak_learning_rate(config) == pytest.approx(2e-3)
    optimizer = build_optimizer(config, learning_rate=peak_learning_rate(config))
    default_beta_2 = 0.999
    assert optimizer.beta_1 == pytest.approx(1 - 4 * 0.05)
    assert optimizer.beta_2 == pytest.approx(1 - 4 * (1 - default_beta_2))
    assert optimizer.epsilon == pytest.approx(1e-6 / 2)


def test_malladi_rule_inside_a_wrapper_and_with_accumulation():
    # The rule reaches the optimizer that takes the rate, at the effective batch (2 x 512).
    config = ExperimentConfig(
        optimizer="lookahead",
        optimizer_options={"optimizer": "adam"},
        lr_scaling="malladi",
        base_batch_size=256,
        global_batch_size=512,
        accumulation_steps=2,
    )
    inner = build_optimizer(config, learning_rate=1e-3).inner_optimizer.inner_optimizer
    assert type(inner).__name__ == "Adam" and inner.beta_1 == pytest.approx(0.6)


@pytest.mark.parametrize(
    "changes, message",
    [
        (dict(optimizer="nesterov"), "has no beta_1, beta_2, epsilon"),
        (dict(optimizer="adam", global_batch_size=4096), "too large for beta_1"),
    ],
)
def test_malladi_rule_refuses_what_it_cannot_scale(changes, message):
    config = ExperimentConfig(lr_scaling="malladi", base_batch_size=256, **changes)
    with pytest.raises(ValueError, match=message):
        build_optimizer(config, learning_rate=1e-3)
