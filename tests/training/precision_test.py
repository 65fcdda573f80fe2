"""lbkeras.training.precision: a run's policy inside the block, float32 after it."""

import keras
import pytest

from lbkeras.training.precision import MIXED_PRECISION_POLICIES, mixed_precision


@pytest.mark.parametrize("name", sorted(MIXED_PRECISION_POLICIES))
def test_the_policy_is_set_inside_and_float32_after(name):
    with mixed_precision(name):
        assert keras.mixed_precision.global_policy().name == MIXED_PRECISION_POLICIES[name]
    assert keras.mixed_precision.global_policy().name == "float32"


def test_float32_is_restored_after_an_error():
    with pytest.raises(RuntimeError, match="out of memory"), mixed_precision("float16"):
        assert keras.mixed_precision.global_policy().name == "mixed_float16"
        raise RuntimeError("out of memory")
    assert keras.mixed_precision.global_policy().name == "float32"


def test_an_unknown_name_changes_nothing():
    with pytest.raises(KeyError), mixed_precision("float8"):
        pass
    assert keras.mixed_precision.global_policy().name == "float32"
