"""The dry run and the run resolve the same learning rate: the optimizer's default when
none is given (lbkeras.optimizers.default_learning_rate), or the one given."""

import json
import os

import pytest

from lbkeras.training import ExperimentConfig, dry_run, run


def _config(model_dir, **changes):
    return ExperimentConfig(
        model_dir=str(model_dir),
        model="mlp",
        model_options={"hidden_units": [8]},
        dataset="synthetic",
        dataset_options={"input_shape": [4], "num_classes": 3, "num_train": 512, "num_eval": 64},
        global_batch_size=128,
        epochs=2,
        warmup_epochs=1,
        verbose=0,
        **changes,
    )


@pytest.mark.parametrize(
    "changes, base, peak",
    [
        ({}, 1.0, 0.5),  # LARS: 1.0 per 256, the linear rule to 128
        ({"optimizer": "adam"}, 1e-3, 5e-4),
        ({"optimizer": "nesterov"}, 0.1, 0.05),
        ({"optimizer": "lion", "lr_scaling": "sqrt"}, 3e-4, 3e-4 * 0.5**0.5),
        # A wrapper takes its inner optimizer's default: LAMB's, or SGD's when none is named.
        ({"optimizer": "lookahead", "optimizer_options": {"optimizer": "lamb"}}, 1e-3, 5e-4),
        ({"optimizer": "lookahead"}, 0.1, 0.05),
        # TrustRatio sets the step size itself: its own default, around any optimizer.
        ({"optimizer": "trust_ratio", "optimizer_options": {"optimizer": "adam"}}, 1e-3, 5e-4),
        (
            {
                "optimizer": "lookahead",
                "optimizer_options": {"optimizer": "trust_ratio", "optimizer_options": {}},
            },
            1e-3,
            5e-4,
        ),
        # The default is for batch 256; at another base batch it is scaled there by the rule.
        ({"optimizer": "adam", "base_batch_size": 512}, 2e-3, 5e-4),
        ({"optimizer": "adam", "base_learning_rate": 0.01}, 0.01, 5e-3),  # given: kept
    ],
)
def test_the_dry_run_shows_the_resolved_rate(tmp_path, changes, base, peak):
    summary = dry_run(_config(tmp_path, **changes))
    assert summary["base_learning_rate"] == pytest.approx(base, rel=1e-12)
    assert summary["peak_learning_rate"] == pytest.approx(peak, rel=1e-12)


def test_results_and_config_json_say_which_rate_was_used(tmp_path):
    results = run(_config(tmp_path, optimizer="adamw"))
    assert results["base_learning_rate"] == 1e-3 and results["peak_learning_rate"] == 5e-4
    with open(os.path.join(tmp_path, "results.json")) as f:
        assert json.load(f)["base_learning_rate"] == 1e-3
    with open(os.path.join(tmp_path, "config.json")) as f:
        assert json.load(f)["base_learning_rate"] == 0.0  # not given: the default, resolved
