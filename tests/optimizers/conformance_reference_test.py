"""Every conformance case (``cases.py``) against its NumPy reference, step by step.

On the least-squares problem of ``conformance_test.py``, mini-batches of 64 in turn:
the Keras optimizer gets the exact gradient at its own weights, the reference (built
only from ``reference.py``'s formulas) at its own, and after every step both must hold
the same weights. 14 steps: two Lookahead synchronisations, and the accumulation's
switch from 1 to 2 micro-batches per update. And through ``model.fit``: each case
converges, and a saved and reloaded model continues as the original. Backend-independent:
also run with KERAS_BACKEND=jax (tests/backend_jax_test.py).
"""

import keras
import numpy as np
import pytest

from tests.optimizers.cases import CASES, PATHS, REFERENCES, data, mse_gradients, reference_step
from tests.optimizers.common import make_variable
from tests.optimizers.stepping import apply, values

STEPS, BATCH = 14, 64
# TrustRatio around SGD reads the wrapped step back as a difference of float32 weights, so
# a step much shorter than ||w|| carries ~ulp(w) / ||u|| relative error in its direction,
# which the rescaling to trust_coefficient * lr * ||w|| keeps: measured up to 6e-6 off the
# float64 reference in 14 steps (0.19 of atol=1e-5; 0.11 under JAX; every other case
# under 0.07 of it), and 5e-3 with the trust coefficient 1% off. Those cases: atol=1e-4.
ATOL = {"trust_ratio": 1e-4, "trust_ratio(gradient_noise(sgd))": 1e-4}


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
                values([variable])[0],
                value,
                rtol=1e-4,
                atol=ATOL.get(name, 1e-5),
                err_msg=f"{name} step {step}",
            )
    assert not np.allclose(expected[0], init[0])  # it moved


FIT = dict(batch_size=64, epochs=2, shuffle=False, verbose=0)


def _compiled(optimizer) -> keras.Model:
    # The start of conformance_test.py (TensorFlow's Glorot draw for seed 0), on every backend.
    kernel = keras.initializers.Constant([[0.0344], [-0.4183], [0.7425], [-0.8619]])
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1, kernel_initializer=kernel)])
    model.compile(optimizer=optimizer, loss="mse")
    return model


def _loss(model) -> float:
    """The mean squared error of ``model``'s weights on all the data, in NumPy."""
    x, y = data()
    kernel, bias = values(model.weights)
    return float(np.mean((x @ kernel + bias - y) ** 2))


def _fit_save_fit(optimizer, path):
    """2 epochs, ``model.save(path)``, 2 more epochs: the model and the loss before training."""
    x, y = data()
    model = _compiled(optimizer)
    initial_loss = _loss(model)
    model.fit(x, y, **FIT)
    model.save(path)
    model.fit(x, y, **FIT)
    return model, initial_loss


def _continue_loaded(path, model) -> None:
    """The model saved at ``path``, reloaded and trained 2 epochs, ends where ``model`` did."""
    loaded = keras.saving.load_model(path)
    assert type(loaded.optimizer) is type(model.optimizer)
    loaded.fit(*data(), **FIT)
    for a, b in zip(values(loaded.weights), values(model.weights)):
        np.testing.assert_array_equal(a, b)  # the same steps from the same state


@pytest.mark.parametrize("name", CASES)
def test_fit_converges_reloads_and_ignores_loss_scaling(name, tmp_path):
    """Also on every backend, through ``model.fit``:

    - it converges;
    - ``model.save`` + ``load_model`` (here in-process; a new process in
      conformance_test.py, TensorFlow) restores the state, so that the reloaded model
      continues exactly as the original;
    - inside Keras's LossScaleOptimizer (what mixed precision puts around the outermost
      optimizer) nothing changes, as its power-of-two loss scale is exact in float32:
      the same weights, and a reload that continues identically.
    """
    plain, initial_loss = _fit_save_fit(CASES[name](), tmp_path / "plain.keras")
    assert _loss(plain) < 0.1 * initial_loss  # as conformance_test.py
    _continue_loaded(tmp_path / "plain.keras", plain)
    scaled, _ = _fit_save_fit(
        keras.optimizers.LossScaleOptimizer(CASES[name]()), tmp_path / "scaled.keras"
    )
    for a, b in zip(values(scaled.weights), values(plain.weights)):
        np.testing.assert_array_equal(a, b)
    _continue_loaded(tmp_path / "scaled.keras", scaled)
