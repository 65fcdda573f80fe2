"""Every conformance case (``cases.py``) against its NumPy reference, step by step.

On the least-squares problem of ``conformance_test.py``, mini-batches of 64 in turn:
the Keras optimizer gets the exact gradient at its own weights, the reference (built
only from ``reference.py``'s formulas) at its own, and after every step both must hold
the same weights. 14 steps: two Lookahead synchronisations, and the accumulation's
switch from 1 to 2 micro-batches per update. Backend-independent: also run with
KERAS_BACKEND=jax (tests/backend_jax_test.py).
"""

import numpy as np
import pytest

from tests.optimizers.cases import CASES, PATHS, REFERENCES, data, mse_gradients, reference_step
from tests.optimizers.common import make_variable
from tests.optimizers.stepping import apply, values

STEPS, BATCH = 14, 64


@pytest.mark.parametrize("name", CASES)
def test_matches_numpy_reference(name):
    x, y = data()
    init = [np.full((4, 1), 0.1), np.zeros(1)]
    variables = [make_variable(value, path) for path, value in zip(PATHS, init)]
    optimizer, ref = CASES[name](), REFERENCES[name]()
    expected = [np.asarray(value, np.float64) for value in init]
    for step in range(STEPS):
        batch = slice(step % 8 * BATCH, (step % 8 + 1) * BATCH)
        grads = mse_gradients(values(variables), x[batch], y[batch])
        apply(optimizer, variables, [g.astype(np.float32) for g in grads])  # as Keras computes
        expected = reference_step(ref, expected, mse_gradients(expected, x[batch], y[batch]), step)
        for variable, value in zip(variables, expected):
            np.testing.assert_allclose(
                values([variable])[0], value, rtol=1e-4, atol=1e-5, err_msg=f"{name} step {step}"
            )
    assert not np.allclose(expected[0], init[0])  # it moved
