"""lbkeras.training.run trains one short epoch with every registered optimizer name.

Wrappers take their inner optimizer from ``optimizer_options`` (default SGD); the
loss must fall and stay finite, and the optimizer built must be the one named.
"""

import math

import pytest

from lbkeras import optimizers
from lbkeras.training import ExperimentConfig, run
from lbkeras.training.recipe import effective_batch_size

# Hyper-parameters that make each family take a sensible step on the toy problem.
BASE_LEARNING_RATE = {"lars": 1.0, "momentum": 0.05, "nesterov": 0.05, "sgd": 0.1}
ADAPTIVE_RATE = 2e-3


def _config(name, model_dir):
    rate = BASE_LEARNING_RATE.get(name, ADAPTIVE_RATE if optimizers.is_adaptive(name) else 0.1)
    return ExperimentConfig(
        model="mlp",
        model_options={"hidden_units": [16]},
        dataset="synthetic",
        dataset_options={"input_shape": [8], "num_classes": 3, "num_train": 256, "num_eval": 64},
        global_batch_size=32,
        base_batch_size=32,
        base_learning_rate=rate,
        optimizer=name,
        weight_decay=0.0,
        epochs=1.0,
        warmup_epochs=0.0,
        schedule="constant",
        eval_every_loops=0,
        model_dir=model_dir,
        verbose=0,
    )


@pytest.mark.parametrize("name", optimizers.names())
def test_one_epoch_with_every_optimizer(name, tmp_path):
    config = _config(name, str(tmp_path))
    results = run(config)
    # One pass of 256 examples: 8 updates of 32, or 4 of 2 x 32 with gradient accumulation.
    assert results["steps"] == 256 // effective_batch_size(config), name
    assert math.isfinite(results["train_loss"]) and math.isfinite(results["eval_loss"])


def test_the_registry_names_are_the_ones_built(tmp_path):
    from lbkeras.training import build, prepare

    for name in ("muon", "lookahead", "keras_lamb"):
        model, _, _ = build(prepare(_config(name, str(tmp_path / name))))
        built = type(model.optimizer).__name__
        expected = type(optimizers.get(name)).__name__
        assert built == expected, (name, built)
