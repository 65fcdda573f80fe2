"""Loads a saved model in a fresh process and continues training it.

Run by save_load_test.py: ``python continue_training.py MODEL.keras DATA.npz EPOCHS OUT.npz``.
Writes the optimizer's iteration count and variables as loaded, and the weights
after ``EPOCHS`` more epochs.
"""

import sys

import keras
import numpy as np

import lbkeras  # noqa: F401  (registers the serializable classes)


def main(model_path: str, data_path: str, epochs: int, out_path: str) -> None:
    model = keras.saving.load_model(model_path)
    loaded_iterations = int(keras.ops.convert_to_numpy(model.optimizer.iterations))
    loaded_state = [keras.ops.convert_to_numpy(v) for v in model.optimizer.variables]
    data = np.load(data_path)
    model.fit(data["x"], data["y"], batch_size=64, epochs=epochs, shuffle=False, verbose=0)
    np.savez(
        out_path,
        loaded_iterations=loaded_iterations,
        optimizer_class=type(model.optimizer).__name__,
        **{f"state_{i}": v for i, v in enumerate(loaded_state)},
        **{f"weight_{i}": keras.ops.convert_to_numpy(w) for i, w in enumerate(model.weights)},
    )


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4])
