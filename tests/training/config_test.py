"""ExperimentConfig validation and serialisation."""

import json

import pytest

from lbkeras.training import ExperimentConfig


def test_defaults_are_valid_and_round_trip_as_json():
    config = ExperimentConfig()
    data = json.loads(config.to_json())
    assert data["global_batch_size"] == 2048 and data["optimizer"] == "lars"
    assert (
        ExperimentConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in data.items()})
        == config
    )


@pytest.mark.parametrize(
    "changes, message",
    [
        (dict(global_batch_size=0), "global_batch_size"),
        (dict(global_batch_size=-8), "global_batch_size"),
        (dict(epochs=0.0), "epochs"),
        (dict(base_learning_rate=float("nan")), "base_learning_rate"),
        (dict(lr_scaling="cubic"), "lr_scaling"),
        (dict(mixed_precision="int8"), "mixed_precision"),
        (dict(momentum=1.0), "momentum"),
        (dict(label_smoothing=1.5), "label_smoothing"),
        (dict(decay_epochs=(60.0, 30.0)), "decay_epochs"),
        (dict(weight_decay=-1.0), "weight_decay"),
    ],
)
def test_bad_values_name_the_field(changes, message):
    with pytest.raises(ValueError, match=message):
        ExperimentConfig(**changes)


def test_train_steps_replace_epochs():
    config = ExperimentConfig().replace(epochs=0.0, train_steps=100)
    assert config.train_steps == 100
