"""What LARS, LAMB and TrustRatio share: exclusions by variable path, and the trust ratio.

Backend-independent: also run with KERAS_BACKEND=jax (tests/backend_jax_test.py).
"""

import keras
import numpy as np
import pytest

from lbkeras.optimizers import layerwise


def _variables():
    model = keras.Sequential(
        [
            keras.Input((3,)),
            keras.layers.Dense(4, name="dense"),
            keras.layers.LayerNormalization(name="norm"),
        ],
        name="net",
    )
    return {v.path: v for v in model.weights}


def test_patterns_are_searched_in_the_variable_path():
    variables = _variables()
    assert sorted(variables) == [
        f"net/{p}" for p in ("dense/bias", "dense/kernel", "norm/beta", "norm/gamma")
    ]
    patterns = layerwise.compile_patterns(["norm/", "bias$"], "exclude_from_weight_decay")
    excluded = {path for path, v in variables.items() if layerwise.is_excluded(v, patterns, False)}
    assert excluded == {"net/dense/bias", "net/norm/beta", "net/norm/gamma"}
    # 1-D variables (biases, norm parameters) excluded by shape, whatever their path.
    flags = layerwise.included_flags(list(variables.values()), (), exclude_1d=True)
    assert flags == [path == "net/dense/kernel" for path in variables]
    assert layerwise.compile_patterns("kernel", "x") == ("kernel",)
    assert layerwise.compile_patterns(None, "x") == ()


def test_bad_patterns_name_the_argument():
    with pytest.raises(ValueError, match="exclude_from_layer_adaptation: invalid regex '\\('"):
        layerwise.compile_patterns(["("], "exclude_from_layer_adaptation")
    with pytest.raises(TypeError, match="exclude_from_weight_decay must hold regex strings"):
        layerwise.compile_patterns([3], "exclude_from_weight_decay")


def test_trust_ratio_is_one_unless_both_norms_are_positive():
    weight_norm = np.array([2.0, 0.0, 2.0, 0.0], "float32")
    update_norm = np.array([4.0, 4.0, 0.0, 0.0], "float32")
    numerator, denominator = 0.1 * weight_norm, update_norm
    ratio = layerwise.trust_ratio(weight_norm, update_norm, numerator, denominator)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(ratio), [0.05, 1.0, 1.0, 1.0])
    x = np.arange(12, dtype="float32").reshape(3, 4)
    norm = keras.ops.convert_to_numpy(layerwise.l2_norm(x))
    np.testing.assert_allclose(norm, np.sqrt((x**2).sum()), rtol=1e-6)
