"""lbkeras.optimizers.get covers lbkeras's optimizers and Keras's own."""

import keras
import pytest

import lbkeras
from lbkeras import optimizers


def test_lbkeras_optimizers_by_name():
    lars = optimizers.get("lars", learning_rate=2.0, momentum=0.8, weight_decay=1e-4)
    assert isinstance(lars, optimizers.LARS) and lars.momentum == 0.8
    assert isinstance(optimizers.get("LAMB"), optimizers.LAMB)


def test_keras_optimizers_by_name():
    assert type(optimizers.get("adamw", learning_rate=1e-3)) is keras.optimizers.AdamW
    assert type(optimizers.get("keras_lamb")) is keras.optimizers.Lamb
    nesterov = optimizers.get("nesterov", learning_rate=0.1)
    assert type(nesterov) is keras.optimizers.SGD
    assert nesterov.nesterov and nesterov.momentum == 0.9
    momentum = optimizers.get("momentum", learning_rate=0.1, momentum=0.8)
    assert not momentum.nesterov and momentum.momentum == 0.8


def test_every_name_builds_and_scaling_knows_it():
    for name in optimizers.names():
        assert isinstance(optimizers.get(name), keras.optimizers.Optimizer), name
    for name in optimizers.names(wrapper=False):
        assert lbkeras.scaling.resolve_rule("auto", name) in ("linear", "sqrt")


def test_tags_say_what_each_optimizer_is():
    assert optimizers.names(layerwise=True) == ["lamb", "lars"]
    assert "lars" not in optimizers.names(adaptive=True)
    assert {"adam", "adamw", "lamb", "muon"} <= set(optimizers.names(adaptive=True))
    assert set(optimizers.names(wrapper=True)) == {
        "adascale",
        "agc",
        "gradient_accumulation",
        "gradient_noise",
        "lookahead",
        "trust_ratio",
    }
    for name in optimizers.names(wrapper=True):  # every wrapper class is registered
        assert isinstance(optimizers.get(name), optimizers.OptimizerWrapper), name
    with pytest.raises(ValueError, match="pass the name of the optimizer it wraps"):
        lbkeras.scaling.resolve_rule("auto", "lookahead")


def test_unknown_optimizer_lists_choices():
    with pytest.raises(ValueError, match="choose one of: .*lars"):
        optimizers.get("lars2")


def test_every_optimizer_has_a_default_learning_rate_and_its_batch():
    for name in optimizers.names(wrapper=False):
        rate, batch = optimizers.default_learning_rate(name)
        assert 0 < rate <= 1.0 and batch == optimizers.DEFAULT_BASE_BATCH_SIZE, name
    assert optimizers.default_learning_rate("lars") == (1.0, 256)  # the default experiment's
    assert optimizers.default_learning_rate("nesterov") == (0.1, 256)  # Goyal et al.'s
    # TrustRatio sets the step size itself; the other wrappers take their inner optimizer's.
    assert optimizers.default_learning_rate("trust_ratio") == (1e-3, 256)
    for name in set(optimizers.names(wrapper=True)) - {"trust_ratio"}:
        assert not optimizers.has_default_learning_rate(name), name
        with pytest.raises(ValueError, match="ask for the default of the optimizer it wraps"):
            optimizers.default_learning_rate(name)
