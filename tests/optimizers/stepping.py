"""Step an optimizer on named variables and compare with a NumPy reference after each step."""

from __future__ import annotations

from collections.abc import Callable

import keras
import numpy as np

from tests.optimizers.common import make_variable

# reference(step, weights, gradients) -> weights after the step, all float64 lists.
Reference = Callable[[int, list, list], list]


def values(variables) -> list[np.ndarray]:
    return [keras.ops.convert_to_numpy(v) for v in variables]


def apply(optimizer, variables, gradients) -> None:
    optimizer.apply_gradients(zip([keras.ops.convert_to_tensor(g) for g in gradients], variables))


def run_against_reference(
    optimizer, init: dict, grads, reference: Reference, rtol: float = 2e-5, atol: float = 1e-6
) -> list:
    """Applies ``grads`` one step at a time to variables made from ``init`` (path -> value);
    after each step they must equal what ``reference`` computes in float64."""
    variables = [make_variable(value, path) for path, value in init.items()]
    expected = [np.asarray(value, np.float64) for value in init.values()]
    for step, step_grads in enumerate(grads):
        apply(optimizer, variables, step_grads)
        expected = reference(step, expected, [np.asarray(g, np.float64) for g in step_grads])
        for variable, value in zip(variables, expected):
            np.testing.assert_allclose(
                keras.ops.convert_to_numpy(variable),
                value,
                rtol=rtol,
                atol=atol,
                err_msg=f"{variable.path} at step {step}",
            )
    return variables


def cosine(a, b) -> float:
    a, b = np.ravel(a).astype(np.float64), np.ravel(b).astype(np.float64)
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))
