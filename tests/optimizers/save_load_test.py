"""model.fit with LARS/LAMB, then model.save + load_model in a new process.

The reloaded optimizer must hold the same state (momenta, step) and continued
training must end bit for bit where training that was never interrupted ends.
"""

import keras
import numpy as np
import pytest

from tests.optimizers.common import tiny_classifier, toy_classification
from tests.optimizers.continue_training import continue_in_new_process
from tests.optimizers.large_batch_optimizers import OPTIMIZER_NAMES, compile_classifier


@pytest.mark.parametrize("name", OPTIMIZER_NAMES)
def test_fit_learns(name):
    x, y = toy_classification()
    model = compile_classifier(tiny_classifier(), name)
    history = model.fit(x, y, batch_size=64, epochs=5, shuffle=False, verbose=0)
    assert history.history["loss"][-1] < 0.5 * history.history["loss"][0]
    assert history.history["accuracy"][-1] > 0.85


@pytest.mark.parametrize("name", OPTIMIZER_NAMES)
def test_save_load_in_new_process_continues_identically(name, tmp_path):
    x, y = toy_classification()
    model = compile_classifier(tiny_classifier(), name)
    model.fit(x, y, batch_size=64, epochs=2, shuffle=False, verbose=0)
    model_path = str(tmp_path / "model.keras")
    data_path = str(tmp_path / "data.npz")
    out_path = str(tmp_path / "continued.npz")
    model.save(model_path)
    np.savez(data_path, x=x, y=y)
    expected_state = [keras.ops.convert_to_numpy(v) for v in model.optimizer.variables]

    [out] = continue_in_new_process([(model_path, data_path, 2, out_path)])
    model.fit(x, y, batch_size=64, epochs=2, shuffle=False, verbose=0)  # uninterrupted

    assert str(out["optimizer_class"]) == type(model.optimizer).__name__
    assert int(out["loaded_iterations"]) == 2 * 8
    for i, value in enumerate(expected_state):
        np.testing.assert_array_equal(out[f"state_{i}"], value)
    assert any(np.abs(v).sum() > 0 for v in expected_state[2:]), "momenta were all zero"
    for i, weight in enumerate(model.weights):
        np.testing.assert_array_equal(out[f"weight_{i}"], keras.ops.convert_to_numpy(weight))
