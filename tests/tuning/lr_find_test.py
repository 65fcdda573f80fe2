"""lr_find's settings; the range test of a config, its files and printed flags are tested
end to end through lbkeras-lr-find (tests/tools/lr_find_test.py)."""

import dataclasses
import inspect
import os

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


def test_the_range_test_runs_on_a_language_model(tmp_path):
    """transformer_lm on text: the rates climb geometrically, the first loss is an
    untrained byte model's (near uniform over 256 bytes), the loss then falls."""
    import math

    import numpy as np

    from lbkeras.tuning.lr_find import JSON_FILE, lr_find
    from tests.training.lm_common import config as _config
    from tests.training.lm_common import write_corpus as _write_corpus

    (tmp_path / "text").mkdir()
    _write_corpus(tmp_path / "text")
    settings = RangeTestSettings(min_lr=1e-4, max_lr=0.1, num_steps=12, stop_factor=1e9)
    test = lr_find(_config(tmp_path), settings, str(tmp_path / "lr"))
    np.testing.assert_allclose(test.lrs, np.geomspace(1e-4, 0.1, 12), rtol=1e-5)
    assert abs(test.losses[0] - math.log(256)) < 0.3
    assert min(test.losses) < test.losses[0] - 0.3
    assert os.path.exists(tmp_path / "lr" / JSON_FILE)
