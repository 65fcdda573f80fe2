"""MNIST-1D (Greydanus 2020), generated offline and cached on disk.

A 10-class, 40-sample 1-D signal benchmark that trains on a CPU in seconds but,
unlike MNIST, separates models and batch sizes: useful for batch-size studies at
laptop scale. The ``mnist1d`` package generates it procedurally; generation of
20,000 examples takes ~15 s, so the arrays are cached as one ``.npz`` per set of
arguments, written atomically (a killed run never leaves a half-written cache).
``mnist1d.data.get_dataset`` would download a pickle instead; nothing here does.

References:
    Greydanus, "Scaling down Deep Learning", arXiv:2011.14439, 2020.

Example:
    >>> (x, y), (x_test, y_test) = load_mnist1d("~/.cache/lbkeras")
    >>> x.shape, x_test.shape
    ((16000, 40), (4000, 40))
"""

from __future__ import annotations

import os
import tempfile

import numpy as np


def load_mnist1d(
    cache_dir: str,
    num_train: int = 16_000,
    num_test: int = 4_000,
    seed: int = 42,
) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """Returns ``(x_train, y_train), (x_test, y_test)``: float32 ``(n, 40)``, int32 labels.

    Args:
        cache_dir: folder for the cached arrays (created if missing).
        num_train: training examples; ``num_train + num_test`` must be a multiple of 10.
        num_test: test examples.
        seed: the generator's seed (the package's default is 42).
    """
    total = num_train + num_test
    if num_train <= 0 or num_test <= 0 or total % 10:
        raise ValueError(
            f"num_train={num_train} and num_test={num_test} must be positive and sum to a "
            "multiple of 10 (MNIST-1D draws the same number of examples per class)"
        )
    cache_dir = os.path.expanduser(cache_dir)
    path = os.path.join(cache_dir, f"mnist1d_{num_train}_{num_test}_seed{seed}.npz")
    if not os.path.exists(path):
        os.makedirs(cache_dir, exist_ok=True)
        arrays = _generate(num_train, num_test, seed)
        handle, tmp = tempfile.mkstemp(dir=cache_dir, suffix=".npz.tmp")
        try:
            with os.fdopen(handle, "wb") as f:
                np.savez(f, **arrays)
            os.replace(tmp, path)
        except BaseException:
            os.unlink(tmp)
            raise
    with np.load(path) as data:
        return (data["x"], data["y"]), (data["x_test"], data["y_test"])


def _generate(num_train: int, num_test: int, seed: int) -> dict[str, np.ndarray]:
    from mnist1d.data import get_dataset_args, make_dataset

    args = get_dataset_args()
    args.num_samples = num_train + num_test
    args.train_split = num_train / (num_train + num_test)
    args.seed = seed
    data = make_dataset(args)
    return {
        "x": data["x"].astype(np.float32),
        "y": data["y"].astype(np.int32),
        "x_test": data["x_test"].astype(np.float32),
        "y_test": data["y_test"].astype(np.int32),
    }
