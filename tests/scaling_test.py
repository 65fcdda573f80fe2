"""Batch-size scaling rules against the formulas of REFERENCES.md."""

import math

import pytest

from lbkeras import scaling


@pytest.mark.parametrize("batch", [64, 256, 1024, 8192, 32768])
def test_linear_and_sqrt_rules(batch):
    k = batch / 256
    assert scaling.scale_learning_rate(0.1, batch) == pytest.approx(0.1 * k)
    assert scaling.scale_learning_rate(0.1, batch, rule="sqrt") == pytest.approx(0.1 * math.sqrt(k))
    assert scaling.scale_learning_rate(0.1, batch, rule="none") == 0.1
    # Malladi's rule scales the rate as sqrt (and Adam's betas: scale_adam_hyperparameters).
    assert scaling.scale_learning_rate(0.1, batch, rule="malladi") == pytest.approx(
        0.1 * math.sqrt(k)
    )


def test_goyal_8k_example():
    # Goyal et al.: 0.1 per 256 examples -> 3.2 at 8k.
    assert scaling.scale_learning_rate(0.1, 8192, 256) == pytest.approx(3.2)


@pytest.mark.parametrize(
    "optimizer, expected_rule",
    [
        ("sgd", "linear"),
        ("momentum", "linear"),
        ("nesterov", "linear"),
        ("lars", "linear"),
        ("adam", "sqrt"),
        ("AdamW", "sqrt"),
        ("lamb", "sqrt"),
        ("rmsprop", "sqrt"),
    ],
)
def test_auto_rule_picks_by_optimizer(optimizer, expected_rule):
    assert scaling.resolve_rule("auto", optimizer) == expected_rule
    expected = scaling.scale_learning_rate(1e-3, 4096, rule=expected_rule)
    assert scaling.scale_learning_rate(1e-3, 4096, rule="auto", optimizer=optimizer) == expected


def test_auto_needs_an_optimizer():
    with pytest.raises(ValueError, match="optimizer"):
        scaling.scale_learning_rate(0.1, 1024, rule="auto")


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(base_lr=0.0), "base_lr"),
        (dict(base_lr=-1.0), "base_lr"),
        (dict(base_lr=float("nan")), "base_lr"),
        (dict(base_lr=float("inf")), "base_lr"),
        (dict(global_batch_size=0), "global_batch_size"),
        (dict(base_batch_size=-256), "base_batch_size"),
        (dict(rule="cubic"), "cubic"),
    ],
)
def test_bad_inputs_name_the_argument(kwargs, message):
    args = dict(base_lr=0.1, global_batch_size=1024, **{})
    args.update(kwargs)
    with pytest.raises(ValueError, match=message):
        scaling.scale_learning_rate(**args)


def test_non_numbers_are_rejected():
    with pytest.raises(TypeError):
        scaling.scale_learning_rate("0.1", 1024)
    with pytest.raises(TypeError):
        scaling.scale_learning_rate(0.1, True)


@pytest.mark.parametrize("k", [0.5, 1, 2, 4, 8])
def test_adam_square_root_rule(k):
    lr, b1, b2, eps = 1e-3, 0.95, 0.999, 1e-8
    got = scaling.scale_adam_hyperparameters(lr, int(256 * k), 256, b1, b2, eps)
    assert got.learning_rate == pytest.approx(lr * math.sqrt(k))
    assert got.beta_1 == pytest.approx(1 - k * (1 - b1))
    assert got.beta_2 == pytest.approx(1 - k * (1 - b2))
    assert got.epsilon == pytest.approx(eps / math.sqrt(k))


def test_adam_rule_refuses_a_ratio_beyond_its_range():
    with pytest.raises(ValueError, match="beta_1"):
        scaling.scale_adam_hyperparameters(1e-3, 256 * 16, 256, beta_1=0.9)


def test_weight_decay_scaling():
    assert scaling.scale_weight_decay(5e-4, 8192) == 5e-4  # default: unchanged
    assert scaling.scale_weight_decay(5e-4, 8192, rule="linear") == pytest.approx(5e-4 * 32)
    assert scaling.scale_weight_decay(5e-4, 1024, rule="sqrt") == pytest.approx(1e-3)
    assert scaling.scale_weight_decay(0.0, 1024, rule="linear") == 0.0
    with pytest.raises(ValueError, match="weight_decay"):
        scaling.scale_weight_decay(-1e-4, 1024, rule="linear")
    with pytest.raises(ValueError, match="global_batch_size"):
        scaling.scale_weight_decay(0.0, 0)
