"""define_flags and config_from_flags: one flag per config field, and the config back."""

import dataclasses
import json

from lbkeras.training import ExperimentConfig
from lbkeras.training.config_flags import config_from_flags
from tests.training.config_test import CHANGED, _flag_values


def test_every_field_is_a_flag_with_its_name_default_help_and_choices():
    values = _flag_values()
    fields = dataclasses.fields(ExperimentConfig)
    assert sorted(values) == sorted(field.name for field in fields)
    defaults = ExperimentConfig()
    for field in fields:
        flag = values[field.name]
        default = getattr(defaults, field.name)
        if isinstance(default, tuple):
            assert flag.default == list(default), field.name
        elif isinstance(default, dict):
            assert json.loads(flag.default) == default, field.name
        else:
            assert flag.default == default and type(flag.default) is type(default), field.name
        assert field.metadata["help"] in flag.help, field.name
        for choice in field.metadata["choices"] or ():
            assert choice in flag.help, (field.name, choice)
    assert (values["model"].default, values["global_batch_size"].default) == ("mnist1d_cnn", 2048)


def test_flags_override_a_base_config():
    values = _flag_values()
    values(["train", "--seed=3", "--nojit_compile"])
    config = config_from_flags(ExperimentConfig, values, base=CHANGED)
    assert config == CHANGED.replace(seed=3, jit_compile=False)
