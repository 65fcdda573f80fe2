"""Backend-independent helpers shared by the schedule tests (keras, keras.ops and NumPy only)."""

from __future__ import annotations

import json
from collections.abc import Iterable

import keras
import numpy as np
from keras import ops

#: How a test passes the step: an int32 or int64 tensor, or a plain Python int.
STEP_TYPES = ("int32", "int64", "python")


def as_step(step: int, step_type: str):
    """``step`` as ``step_type``; int64 goes through NumPy so JAX without x64 truncates quietly."""
    if step_type == "python":
        return int(step)
    return ops.convert_to_tensor(np.asarray(step, dtype=step_type))


def evaluate(schedule, steps: Iterable[int], step_type: str = "int64") -> np.ndarray:
    """The schedule's value at each step, checking that every value is a float32 scalar."""
    values = []
    for step in steps:
        lr = schedule(as_step(step, step_type))
        assert keras.backend.standardize_dtype(lr.dtype) == "float32", (step_type, lr.dtype)
        assert tuple(lr.shape) == ()
        values.append(float(ops.convert_to_numpy(lr)))
    return np.array(values, dtype=np.float64)


def assert_close(actual: np.ndarray, expected: np.ndarray) -> None:
    """float32 schedule values against a float64 NumPy reference."""
    np.testing.assert_allclose(actual, expected, rtol=2e-6, atol=1e-7)


def assert_round_trips(schedule, steps: Iterable[int]) -> None:
    """``from_config(get_config())`` and ``keras.saving`` (through JSON) give the same values."""
    steps = list(steps)
    expected = evaluate(schedule, steps)
    config = schedule.get_config()
    rebuilt = type(schedule).from_config(config)
    assert rebuilt.get_config() == config
    np.testing.assert_array_equal(evaluate(rebuilt, steps), expected)

    serialized = json.loads(json.dumps(keras.saving.serialize_keras_object(schedule)))
    restored = keras.saving.deserialize_keras_object(serialized)
    assert type(restored) is type(schedule)
    assert restored.get_config() == config
    np.testing.assert_array_equal(evaluate(restored, steps), expected)
