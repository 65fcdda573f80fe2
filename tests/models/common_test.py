"""What every model family shares: its argument checks and the float32 logits head."""

import keras
import pytest

from lbkeras.models import common


def test_arguments_come_back_checked_and_as_a_tuple():
    assert common.check_arguments("mlp", [8, 3], 10) == ((8, 3), 10)
    assert common.check_arguments("resnet", (32, 32, 3), 10, ranks=(3,)) == ((32, 32, 3), 10)


@pytest.mark.parametrize(
    "input_shape, num_classes, ranks, message",
    [
        ((), 10, None, "mlp: input_shape must be a non-empty tuple of positive integers"),
        ((8, 0), 10, None, "non-empty tuple of positive integers"),
        ((8, True), 10, None, "non-empty tuple of positive integers"),
        (8, 10, None, "non-empty tuple of positive integers"),
        (
            (32, 32),
            10,
            (3,),
            "mlp: input_shape must have rank 3 \\(no batch axis\\), got \\(32, 32\\)",
        ),
        ((8,), 0, None, "num_classes"),
    ],
)
def test_bad_arguments_name_the_model(input_shape, num_classes, ranks, message):
    with pytest.raises(ValueError, match=message):
        common.check_arguments("mlp", input_shape, num_classes, ranks)


def test_bool_and_momentum_checks():
    assert common.check_bool("batch_norm", False) is False
    with pytest.raises(TypeError, match="batch_norm must be True or False, got 'false'"):
        common.check_bool("batch_norm", "false")
    assert common.check_momentum(0.9) == 0.9
    with pytest.raises(ValueError, match="bn_momentum"):
        common.check_momentum(1.0)


def test_logits_are_float32_under_mixed_precision():
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        inputs = keras.Input((4,))
        features = keras.layers.Dense(8)(inputs)
        outputs = common.logits(features, 5)
    finally:
        keras.mixed_precision.set_global_policy("float32")
    assert features.dtype == "float16" and outputs.dtype == "float32"
    assert tuple(outputs.shape) == (None, 5)
