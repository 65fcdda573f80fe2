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


# --- transfer rules at a change of the batch (hand-computed values) ---


def test_half_life_in_examples():
    # Marek et al.: beta_2 0.95 at B=512 and 0.9999 at B=1 have about the same half-life.
    # 512 ln(1/2) / ln(0.95) = 512 x 0.693147 / 0.051293 = 6918.9.
    assert scaling.half_life_in_examples(0.95, 512) == pytest.approx(6918.87, abs=0.01)
    assert scaling.half_life_in_examples(0.9999, 1) == pytest.approx(6931.13, abs=0.01)
    assert scaling.half_life_in_examples(0.0, 512) == 0.0


@pytest.mark.parametrize(
    "beta, old, new, expected",
    [
        (0.999, 2048, 4096, 0.998001),
        (0.999, 4096, 2048, 0.99949987),  # sqrt(0.999)
        (0.95, 256, 1024, 0.81450625),  # 0.95^4
        (0.9, 100, 100, 0.9),
        (0.0, 256, 512, 0.0),
    ],
)
def test_beta_by_half_life(beta, old, new, expected):
    scaled = scaling.scale_beta_by_half_life(beta, new, old)
    assert scaled == pytest.approx(expected, abs=1e-8)
    if beta:
        assert scaling.half_life_in_examples(scaled, new) == pytest.approx(
            scaling.half_life_in_examples(beta, old)
        )


@pytest.mark.parametrize("ratio, expected", [(2.0, 0.2), (4.0, 0.1), (1.0, 0.4)])
def test_weight_decay_by_timescale(ratio, expected):
    # Batch 1024 -> 4096 (k = 4): sqrt rule (rate x 2), linear (x 4), rate unchanged.
    wd = scaling.scale_weight_decay_by_timescale(0.1, 4096, 1024, learning_rate_ratio=ratio)
    assert wd == pytest.approx(expected)
    # tau = B / (lr wd N) is the same before and after.
    assert 4096 / (1e-3 * ratio * wd) == pytest.approx(1024 / (1e-3 * 0.1))
    assert scaling.scale_weight_decay_by_timescale(0.0, 4096, 1024) == 0.0


def test_transfer_sqrt_half_life_timescale():
    transfer = scaling.transfer_hyperparameters(
        {"learning_rate": 1e-3, "beta_1": 0.9, "beta_2": 0.999, "weight_decay": 0.1},
        2048,
        4096,
        rule="sqrt",
        beta_2_rule="half_life",
        weight_decay_rule="timescale",
    )
    assert transfer.after == pytest.approx(
        {
            "learning_rate": 1.41421356e-3,
            "beta_1": 0.9,
            "beta_2": 0.998001,
            "weight_decay": 0.14142136,
        }
    )
    assert set(transfer.changed) == {"learning_rate", "beta_2", "weight_decay"}
    assert transfer.description == (
        "batch 2048 -> 4096: learning_rate x 1.414 (sqrt), beta_2 0.999 -> 0.998001 (half-life), "
        "weight_decay x 1.414 (timescale)"
    )
    with pytest.raises(AttributeError):
        transfer.new_batch_size = 8192


def test_transfer_malladi():
    transfer = scaling.transfer_hyperparameters(
        {
            "learning_rate": 1e-3,
            "beta_1": 0.9,
            "beta_2": 0.999,
            "epsilon": 1e-7,
            "weight_decay": 0.01,
        },
        256,
        1024,
        rule="malladi",
        weight_decay_rule="timescale",
    )
    expected = {
        "learning_rate": 2e-3,
        "beta_1": 0.6,
        "beta_2": 0.996,
        "epsilon": 5e-8,
        "weight_decay": 0.02,
    }
    assert transfer.after == pytest.approx(expected)
    assert transfer.rules == {
        **dict.fromkeys(["learning_rate", "beta_1", "beta_2", "epsilon"], "malladi"),
        "weight_decay": "timescale",
    }
    assert transfer.description == (
        "batch 256 -> 1024: learning_rate x 2 (malladi), beta_1 0.9 -> 0.6 (malladi), "
        "beta_2 0.999 -> 0.996 (malladi), epsilon x 0.5 (malladi), weight_decay x 2 (timescale)"
    )


def test_transfer_linear_keeps_the_timescale_decay_and_the_rest():
    transfer = scaling.transfer_hyperparameters(
        {"learning_rate": 0.1, "beta_1": 0.9, "weight_decay": 5e-4},
        512,
        1024,
        rule="linear",
        weight_decay_rule="timescale",
    )
    assert transfer.after == pytest.approx(
        {"learning_rate": 0.2, "beta_1": 0.9, "weight_decay": 5e-4}
    )
    assert transfer.changed == pytest.approx({"learning_rate": 0.2})
    assert transfer.description == "batch 512 -> 1024: learning_rate x 2 (linear)"


def test_transfer_shrinking_and_unchanged_batches():
    down = scaling.transfer_hyperparameters({"learning_rate": 1e-3}, 4096, 2048, rule="sqrt")
    assert down.after["learning_rate"] == pytest.approx(1e-3 / math.sqrt(2))
    same = scaling.transfer_hyperparameters(
        {"learning_rate": 1e-3, "beta_2": 0.99}, 512, 512, beta_2_rule="half_life"
    )
    assert same.changed == {}
    assert same.description == "batch 512 -> 512: no hyper-parameter changes"
    none = scaling.transfer_hyperparameters({"learning_rate": 1e-3}, 512, 1024, rule="none")
    assert none.changed == {}


@pytest.mark.parametrize("optimizer, factor", [("adam", math.sqrt(2)), ("lars", 2.0)])
def test_transfer_auto_rule(optimizer, factor):
    transfer = scaling.transfer_hyperparameters(
        {"learning_rate": 1.0}, 256, 512, rule="auto", optimizer=optimizer
    )
    assert transfer.after["learning_rate"] == pytest.approx(factor)


@pytest.mark.parametrize(
    "options",
    [
        {"rule": "sqrt", "beta_2_rule": "half_life", "weight_decay_rule": "timescale"},
        {"rule": "malladi", "weight_decay_rule": "timescale"},
        {"rule": "linear"},
    ],
)
def test_transfers_compose(options):
    start = {
        "learning_rate": 1e-3,
        "beta_1": 0.95,
        "beta_2": 0.999,
        "epsilon": 1e-8,
        "weight_decay": 0.1,
    }
    middle = scaling.transfer_hyperparameters(start, 256, 512, **options).after
    stepwise = scaling.transfer_hyperparameters(middle, 512, 1024, **options).after
    direct = scaling.transfer_hyperparameters(start, 256, 1024, **options).after
    assert stepwise == pytest.approx(direct, rel=1e-9)


@pytest.mark.parametrize(
    "hyperparameters, options, message",
    [
        ({"learning_rate": 1e-3, "beta2": 0.99}, {}, r"cannot transfer \['beta2'\]"),
        ({"beta_2": 0.99}, {}, "needs the learning_rate"),
        ({"learning_rate": 1e-3}, {"beta_2_rule": "marek"}, "unknown beta_2_rule 'marek'"),
        ({"learning_rate": 1e-3}, {"weight_decay_rule": "linear"}, "unknown weight_decay_rule"),
        ({"learning_rate": 1e-3}, {"rule": "cubic"}, "unknown scaling rule"),
        ({"learning_rate": 1e-3}, {"rule": "auto"}, "optimizer"),
        (
            {"learning_rate": 1e-3, "beta_1": 0.9, "beta_2": 0.999},
            {"rule": "malladi"},
            "rule='malladi' scales epsilon: pass",
        ),
        (
            {"learning_rate": 1e-3, "beta_1": 0.9, "beta_2": 0.999, "epsilon": 1e-7},
            {"rule": "malladi", "beta_2_rule": "half_life"},
            "already scales beta_2",
        ),
        ({"learning_rate": 1e-3}, {"beta_2_rule": "half_life"}, "half_life' scales beta_2"),
        (
            {"learning_rate": 1e-3},
            {"weight_decay_rule": "timescale"},
            "timescale' scales weight_decay",
        ),
        ({"learning_rate": -1e-3}, {}, "base_lr"),
        ({"learning_rate": 1e-3, "beta_2": 1.0}, {"beta_2_rule": "half_life"}, "beta"),
    ],
)
def test_transfer_bad_input(hyperparameters, options, message):
    with pytest.raises(ValueError, match=message):
        scaling.transfer_hyperparameters(hyperparameters, 256, 512, **options)


def test_transfer_bad_batches():
    with pytest.raises(ValueError, match="new_batch_size"):
        scaling.transfer_hyperparameters({"learning_rate": 1e-3}, 256, 0)
    with pytest.raises(TypeError, match="old_batch_size"):
        scaling.transfer_hyperparameters({"learning_rate": 1e-3}, 256.0, 512)
    with pytest.raises(ValueError, match="beta_1"):  # Malladi's rule at k = 16 with beta_1 0.9
        scaling.transfer_hyperparameters(
            {"learning_rate": 1e-3, "beta_1": 0.9, "beta_2": 0.999, "epsilon": 1e-7},
            256,
            4096,
            rule="malladi",
        )
