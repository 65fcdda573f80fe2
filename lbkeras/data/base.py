"""What every dataset source provides: a :class:`DatasetInfo` and ``make(split, batch_size, ...)``.

A source turns one split into a ``tf.data.Dataset`` of ``(features, labels)`` batches for ONE
input pipeline: the trainer passes ``input_context.get_per_replica_batch_size(global_batch_size)``
under ``strategy.distribute_datasets_from_function`` (or the global batch with one pipeline), and
the source shards its data or files by ``input_context``. Training pipelines are shuffled from
``seed``, drop the remainder and make one pass (Keras iterates the epochs); evaluation pipelines
keep their order and their last partial batch.

This module imports no TensorFlow, so that ``import lbkeras`` works where only JAX is installed;
the sources (one module each) import it when they are built.

Example:
    >>> source = lbkeras.data.get("synthetic", input_shape=(32, 32, 3), num_classes=10)
    >>> source.info.num_train, source.soft_labels
    (1281167, False)
    >>> batches = source.make("train", 64, training=True, seed=0)
"""

from __future__ import annotations

import abc
import dataclasses
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import tensorflow as tf

SPLITS = ("train", "eval")
#: Where sources that generate or gather their data cache it by default.
CACHE_DIR = "~/.cache/lbkeras"
#: What a source's labels are (``DatasetInfo.task``): one class per example, or the next
#: byte at every position of a window (a language model's; the trainer then reports
#: bits per byte).
CLASSIFICATION = "classification"
NEXT_BYTE = "next_byte"
TASKS = (CLASSIFICATION, NEXT_BYTE)
AUGMENTATIONS = (None, "mixup", "cutmix", "randaugment")
SOFT_LABEL_AUGMENTATIONS = ("mixup", "cutmix")


@dataclasses.dataclass(frozen=True)
class DatasetInfo:
    """Static facts about a dataset that the trainer needs before reading it.

    Args:
        name: the name it was built under ("imagenet", "tfds:cifar10").
        num_classes: number of classes; labels are ``0 .. num_classes - 1``.
        input_shape: the shape of one example's features, e.g. ``(40,)`` or ``(224, 224, 3)``.
        num_train: examples in the train split (for ``steps_per_epoch``).
        num_eval: examples in the eval split.
        task: "classification" (labels ``(batch,)``) or "next_byte" (features and labels
            are windows of byte ids ``(batch, context)``, the labels one byte later;
            ``num_classes`` is 256 and an example is a window).
    """

    name: str
    num_classes: int
    input_shape: tuple[int, ...]
    num_train: int
    num_eval: int
    task: str = CLASSIFICATION

    def __post_init__(self) -> None:
        if self.task not in TASKS:
            raise ValueError(f"task={self.task!r}; choose one of: {', '.join(TASKS)}")

    @property
    def tokens_per_example(self) -> int:
        """Predicted tokens per example: the context for "next_byte"; 0 for classification
        (its examples are not token sequences)."""
        return self.input_shape[0] if self.task == NEXT_BYTE else 0


class Dataset(abc.ABC):
    """A source of train and eval batches; subclasses set ``info`` (and ``augment``).

    Labels are int32 class ids of shape ``(batch,)``, except when :attr:`soft_labels` is true
    (MixUp/CutMix): then labels of BOTH splits are one-hot float32 ``(batch, num_classes)``, and the
    trainer must use ``keras.losses.CategoricalCrossentropy`` and ``CategoricalAccuracy``.
    """

    info: DatasetInfo
    augment: str | None = None

    @property
    def soft_labels(self) -> bool:
        """Whether labels are one-hot mixtures (``augment`` is "mixup" or "cutmix")."""
        return self.augment in SOFT_LABEL_AUGMENTATIONS

    @abc.abstractmethod
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
        """Returns the batches of ``split`` ("train" or "eval") for this input pipeline.

        Args:
            split: "train" or "eval".
            batch_size: the batch of this input pipeline (per worker, not global).
            training: shuffle (from ``seed``), augment and drop the last partial batch.
            input_context: from ``distribute_datasets_from_function``; with more than one input
                pipeline, each pipeline reads its own shard.
            seed: makes shuffling and random preprocessing repeatable; None: random.
            drop_remainder: drop the last partial batch; default: when ``training``. The
                trainer makes training passes with ``False`` and batches across them
                (``lbkeras.data.stream``), so that no example is left out of a pass.
        """

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.info})"


def check_augment(augment: str | None) -> str | None:
    """``augment`` lower-cased, after checking it is one of :data:`AUGMENTATIONS`."""
    name = augment.lower() if isinstance(augment, str) else augment
    if name not in AUGMENTATIONS:
        raise ValueError(f"unknown augment {augment!r}; choose one of: {AUGMENTATIONS}")
    return name
