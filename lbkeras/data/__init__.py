"""Datasets for the trainer, by name: ``get("imagenet", data_dir=...)``, ``get("tfds:cifar10")``.

Every source is a :class:`Dataset`: a :class:`DatasetInfo` (classes, input shape, split sizes)
and ``make(split, batch_size, training=..., input_context=..., seed=...)``, which returns the
``tf.data`` batches of one input pipeline (see :mod:`lbkeras.data.base`).

Registered names (:func:`get`, :func:`names`):

* ``"mnist1d"``: :class:`MNIST1DDataset`, generated offline (in-memory, shards examples).
* ``"synthetic"``: :class:`SyntheticDataset`, random data for throughput (shards examples).
* ``"tfds:NAME"``: :class:`TFDSDataset`, a prepared TensorFlow Datasets dataset.
* ``"imagenet"``: :class:`ImageNetDataset`, the standard TFRecord shards (shards files).
* ``"folder"``: :class:`FolderDataset`, one folder of images per class (shards examples).
* ``"text"``: :class:`TextDataset`, byte-level text for language models: a folder of
  ``.txt`` files, or by default the source of the pinned Keras (shards windows).

The image sources take ``augment=`` "mixup", "cutmix" or "randaugment"; with MixUp and CutMix,
``Dataset.soft_labels`` is true and labels are one-hot: train with ``CategoricalCrossentropy``.

The sources import TensorFlow (and TFDS, keras-cv) only when first used, so that
``import lbkeras`` works where only JAX is installed.

Example (``get("imagenet", data_dir="/data/imagenet", augment="mixup")`` and a
``MirroredStrategy`` are used the same way):
    >>> import tensorflow as tf
    >>> source = get("synthetic", input_shape=(8, 8, 3), num_classes=10, num_train=1024,
    ...              augment="mixup")
    >>> source.soft_labels, source.info.num_train // 256  # one-hot labels; steps per epoch
    (True, 4)
    >>> strategy = tf.distribute.get_strategy()
    >>> ds = strategy.distribute_datasets_from_function(
    ...     lambda context: source.make("train", context.get_per_replica_batch_size(256),
    ...                                 training=True, input_context=context, seed=0))
    >>> images, labels = next(iter(ds))
    >>> images.shape, labels.shape
    (TensorShape([256, 8, 8, 3]), TensorShape([256, 10]))
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable
from typing import Any

from lbkeras.data.base import AUGMENTATIONS, CLASSIFICATION, NEXT_BYTE, TASKS, Dataset, DatasetInfo
from lbkeras.registry import Registry

__all__ = [
    "AUGMENTATIONS",
    "CLASSIFICATION",
    "DATASETS",
    "Dataset",
    "DatasetInfo",
    "FolderDataset",
    "ImageNetDataset",
    "MNIST1DDataset",
    "NEXT_BYTE",
    "SyntheticDataset",
    "TASKS",
    "TFDSDataset",
    "TextDataset",
    "get",
    "load_mnist1d",
    "names",
]

TFDS_PREFIX = "tfds:"

# Public names that live in modules importing TensorFlow: loaded on first use (PEP 562).
_LAZY = {
    "FolderDataset": "lbkeras.data.folder",
    "ImageNetDataset": "lbkeras.data.imagenet",
    "MNIST1DDataset": "lbkeras.data.mnist1d",
    "SyntheticDataset": "lbkeras.data.synthetic",
    "TFDSDataset": "lbkeras.data.tfds",
    "TextDataset": "lbkeras.data.text",
    "load_mnist1d": "lbkeras.data.mnist1d",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _lazy_factory(class_name: str) -> Callable[..., Dataset]:
    """Imports the source's module on first use; an unknown option is a clear ValueError."""

    def build(*args: Any, **options: Any) -> Dataset:
        source = __getattr__(class_name)
        try:
            inspect.signature(source).bind(*args, **options)
        except TypeError as error:
            known = ", ".join(inspect.signature(source).parameters)
            raise ValueError(f"{class_name}: {error}; its options are: {known}") from None
        return source(*args, **options)

    build.__name__ = class_name
    return build


DATASETS = Registry("dataset")
DATASETS.add("mnist1d", _lazy_factory("MNIST1DDataset"))
DATASETS.add("synthetic", _lazy_factory("SyntheticDataset"))
DATASETS.add(TFDS_PREFIX + "<name>", _lazy_factory("TFDSDataset"))
DATASETS.add("imagenet", _lazy_factory("ImageNetDataset"))
DATASETS.add("folder", _lazy_factory("FolderDataset"))
DATASETS.add("text", _lazy_factory("TextDataset"))


def get(name: str, data_dir: str | None = None, **options: Any) -> Dataset:
    """Builds the dataset source registered under ``name``; ``"tfds:NAME"`` for any TFDS one.

    Args:
        name: a registered name, or ``"tfds:"`` followed by a TFDS dataset name.
        data_dir: where the data lives (its meaning and default are the source's).
        **options: the source's other arguments.

    Raises:
        ValueError: an unknown name (the message lists the choices), or the source's own
            errors (missing or corrupt data).
    """
    if name.lower().startswith(TFDS_PREFIX):
        tfds_name = name[len(TFDS_PREFIX) :]
        if tfds_name in ("", "<name>"):
            raise ValueError(f"name the TFDS dataset after {TFDS_PREFIX!r}, e.g. 'tfds:cifar10'")
        return DATASETS.factory(TFDS_PREFIX + "<name>")(tfds_name, data_dir=data_dir, **options)
    return DATASETS.get(name, data_dir=data_dir, **options)


def names() -> list[str]:
    """The registered dataset names, sorted ("tfds:<name>" stands for every TFDS dataset)."""
    return DATASETS.names()
