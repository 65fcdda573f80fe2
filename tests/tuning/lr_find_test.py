"""lr_find's settings; the range test of a config, its files and printed flags are tested
end to end through lbkeras-lr-find (tests/tools/lr_find_test.py)."""

import dataclasses
import inspect

import pytest

from lbkeras.tuning.lr_find import RangeTestSettings
from lbkeras.tuning.lr_range import lr_range_test


def test_settings_default_to_the_functions_defaults_and_check_themselves():
    parameters = inspect.signature(lr_range_test).parameters
    for field in dataclasses.fields(RangeTestSettings):
        assert field.default == parameters[field.name].default, field.name
    with pytest.raises(ValueError, match="stop_factor must be a finite number > 1, got 1.0"):
        RangeTestSettings(stop_factor=1.0)
    with pytest.raises(ValueError, match="skip_start must be a finite number in \\[0, 1\\)"):
        RangeTestSettings(skip_start=1.0)
