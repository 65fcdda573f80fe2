"""MNIST-1D (Greydanus 2020), generated offline and cached on disk.

A 10-class, 40-sample 1-D signal benchmark that trains on a CPU in seconds but,
unlike MNIST, separates models and batch sizes: useful for batch-size studies at
laptop scale. The ``mnist1d`` package generates it procedurally; generation of
20,000 examples takes ~15 s, so the arrays are cached as one ``.npz`` per set of
arguments, written atomically (a killed run never leaves a half-written cache).
``mnist1d.data.get_dataset`` would download a pickle instead; nothing here does.
:class:`MNIST1DDataset` is the ``mnist1d`` source of the dataset registry.

Sharding: in-memory; each input pipeline keeps every n-th example (``ds.shard``).

References:
    Greydanus, "Scaling down Deep Learning", arXiv:2011.14439, 2020.

Example (small: the default 16,000 + 4,000 examples take ~15 s to generate, once, into
``~/.cache/lbkeras``):
    >>> import tempfile
    >>> cache = tempfile.TemporaryDirectory()
    >>> (x, y), (x_test, y_test) = load_mnist1d(cache.name, num_train=90, num_test=10)
    >>> x.shape, x_test.shape, sorted(set(y.tolist())) == list(range(10))
    ((90, 40), (10, 40), True)
    >>> ds = MNIST1DDataset(cache.name, num_train=90, num_eval=10).make(
    ...     "train", 32, training=True, seed=0)
    >>> [int(labels.shape[0]) for _, labels in ds]
    [32, 32]
    >>> cache.cleanup()
"""

from __future__ import annotations

import os

import numpy as np
import tensorflow as tf

from lbkeras.atomic import write_atomically
from lbkeras.checks import check_int
from lbkeras.data import pipeline
from lbkeras.data.base import CACHE_DIR, Dataset, DatasetInfo

DEFAULT_DATA_DIR = CACHE_DIR


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
        write_atomically(path, lambda f: np.savez(f, **arrays), binary=True)
    with np.load(path) as data:
        return (data["x"], data["y"]), (data["x_test"], data["y_test"])


def _generate(num_train: int, num_test: int, seed: int) -> dict[str, np.ndarray]:
    import random

    from mnist1d.data import get_dataset_args, make_dataset

    # mnist1d reseeds Python's and NumPy's global generators; leave the caller's alone.
    python_state, numpy_state = random.getstate(), np.random.get_state()

    args = get_dataset_args()
    args.num_samples = num_train + num_test
    args.train_split = num_train / (num_train + num_test)
    args.seed = seed
    try:
        data = make_dataset(args)
    finally:
        random.setstate(python_state)
        np.random.set_state(numpy_state)
    return {
        "x": data["x"].astype(np.float32),
        "y": data["y"].astype(np.int32),
        "x_test": data["x_test"].astype(np.float32),
        "y_test": data["y_test"].astype(np.int32),
    }


class MNIST1DDataset(Dataset):
    """MNIST-1D as a dataset source: features float32 ``(40,)``, 10 classes.

    The arrays are generated (or read from the cache) on the first ``make``. Sharding: by
    example, after a shuffle that every worker does alike, so the examples of each global
    batch do not depend on how many workers and replicas share it.

    Args:
        data_dir: the cache folder of :func:`load_mnist1d` (default ``~/.cache/lbkeras``).
        num_train: generated training examples.
        num_eval: generated test examples; ``num_train + num_eval`` a multiple of 10.
        data_seed: the generator's seed.
        validation: training examples held out as the eval split (0: none, the eval
            split is the test set). With a hold-out the trainer trains on the first
            ``num_train - validation`` and evaluates on the last ``validation``
            examples, so that a search tunes on them and the test set
            (:meth:`test_arrays`) is used once, for the final figure.
    """

    def __init__(
        self,
        data_dir: str | None = None,
        num_train: int = 16_000,
        num_eval: int = 4_000,
        data_seed: int = 42,
        validation: int = 0,
    ) -> None:
        self.data_dir = data_dir or DEFAULT_DATA_DIR
        self.data_seed = data_seed
        self.generated = (
            check_int("num_train", num_train, positive=True),
            check_int("num_eval", num_eval, positive=True),
        )
        self.validation = check_int("validation", validation)
        if not 0 <= validation < num_train:
            raise ValueError(
                f"validation={validation} must hold out fewer than the {num_train} training "
                "examples (and 0 or more)"
            )
        self.info = DatasetInfo(
            name="mnist1d",
            num_classes=10,
            input_shape=(40,),
            num_train=num_train - validation,
            num_eval=validation or num_eval,
        )

    def arrays(self, split: str) -> tuple[np.ndarray, np.ndarray]:
        """The ``(x, y)`` arrays of ``split`` ("train" or "eval")."""
        (x, y), test = load_mnist1d(self.data_dir, *self.generated, self.data_seed)
        kept = len(x) - self.validation
        if pipeline.check_split(split) == "train":
            return x[:kept], y[:kept]
        return (x[kept:], y[kept:]) if self.validation else test

    def test_arrays(self) -> tuple[np.ndarray, np.ndarray]:
        """The generated test set, whether or not the eval split is a validation hold-out."""
        return load_mnist1d(self.data_dir, *self.generated, self.data_seed)[1]

    def make(
        self,
        split: str,
        batch_size: int,
        *,
        training: bool,
        input_context: tf.distribute.InputContext | None = None,
        seed: int | None = None,
        drop_remainder: bool | None = None,
    ) -> tf.data.Dataset:
        """Batches of ``split``; see :meth:`lbkeras.data.Dataset.make`."""
        x, y = self.arrays(split)
        size = pipeline.shard_size(len(x), input_context)
        pipeline.check_batch_size(
            batch_size, size, pipeline.drops_remainder(training, drop_remainder), "examples"
        )
        ds = tf.data.Dataset.from_tensor_slices((x, y))
        if training:
            # Shuffle the whole set with the same seed on every worker, then shard: global
            # batch k holds the same examples whatever the number of workers and replicas.
            ds = ds.shuffle(len(x), seed=seed, reshuffle_each_iteration=True)
        ds = pipeline.shard(ds, input_context)
        return pipeline.finish(
            ds, self, batch_size, training=training, seed=seed, drop_remainder=drop_remainder
        )
