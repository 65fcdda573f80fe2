"""Images in one folder per class: ``data_dir/train/<class>/*.jpg`` and ``data_dir/val/<class>/*``.

Labels number the class folders of ``train`` in sorted order; ``val`` must use the same class
names (it may miss some). JPEG and PNG files are read (by extension, case-insensitive), with
the ImageNet preprocessing and normalisation of :mod:`lbkeras.data.preprocessing`.

The file list is made here rather than by ``keras.utils.image_dataset_from_directory``, which
neither shards per worker nor shuffles from a seed per epoch inside one pipeline.

Sharding: in-memory; the sorted file list is sharded by example (pipeline ``i`` of ``n`` keeps
every n-th file), before shuffling. A file that is not a JPEG or PNG fails with an error naming
it.

Example:
    >>> import tempfile
    >>> folder = tempfile.TemporaryDirectory()
    >>> for split, name in [("train", "daisy"), ("train", "tulip"), ("val", "tulip")]:
    ...     os.makedirs(os.path.join(folder.name, split, name))
    ...     png = tf.io.encode_png(tf.zeros((20, 30, 3), tf.uint8))
    ...     tf.io.write_file(os.path.join(folder.name, split, name, "0.png"), png)
    >>> source = FolderDataset(folder.name, image_size=16)
    >>> source.class_names, source.info.num_train, source.info.num_eval
    (['daisy', 'tulip'], 2, 1)
    >>> images, labels = next(iter(source.make("train", 2, training=True, seed=0)))
    >>> images.shape, sorted(labels.numpy().tolist())
    (TensorShape([2, 16, 16, 3]), [0, 1])
    >>> folder.cleanup()
"""

from __future__ import annotations

import os

import tensorflow as tf

from lbkeras.checks import check_int
from lbkeras.data import pipeline, preprocessing
from lbkeras.data.base import Dataset, DatasetInfo, check_augment

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png")


def _subfolders(path: str) -> list[str]:
    names = (name.rstrip("/") for name in tf.io.gfile.listdir(path))
    return sorted(name for name in names if tf.io.gfile.isdir(os.path.join(path, name)))


def list_images(split_dir: str, class_names: list[str]) -> tuple[list[str], list[int]]:
    """``(paths, labels)`` of the images in ``split_dir/<class>/``, sorted by class then name.

    Raises:
        ValueError: a class folder not among ``class_names``.
    """
    unknown = sorted(set(_subfolders(split_dir)) - set(class_names))
    if unknown:
        raise ValueError(f"{split_dir} has class folders {unknown} that the train folder lacks")
    paths, labels = [], []
    for label, name in enumerate(class_names):
        class_dir = os.path.join(split_dir, name)
        if not tf.io.gfile.isdir(class_dir):
            continue
        files = sorted(tf.io.gfile.listdir(class_dir))
        images = [f for f in files if f.lower().endswith(IMAGE_EXTENSIONS)]
        paths += [os.path.join(class_dir, f) for f in images]
        labels += [label] * len(images)
    return paths, labels


class FolderDataset(Dataset):
    """A class-per-folder image dataset as a dataset source.

    Args:
        data_dir: the folder holding ``train_dir`` and ``eval_dir`` (required).
        image_size: side of the square crops; ``input_shape`` is ``(image_size, image_size, 3)``.
        augment: None, "mixup", "cutmix" or "randaugment" (training batches only).
        train_dir: the train split's folder, inside ``data_dir``.
        eval_dir: the eval split's folder, inside ``data_dir`` (may be missing: no eval split).
    """

    def __init__(
        self,
        data_dir: str | None = None,
        image_size: int = 224,
        augment: str | None = None,
        train_dir: str = "train",
        eval_dir: str = "val",
    ) -> None:
        expected = f"{train_dir}/<class>/*.jpg|png and {eval_dir}/<class>/*.jpg|png"
        if not data_dir:
            raise ValueError(f"data_dir is required: the folder holding {expected}")
        data_dir = os.path.expanduser(data_dir)
        train_path = os.path.join(data_dir, train_dir)
        if not tf.io.gfile.isdir(train_path):
            raise ValueError(f"{train_path} does not exist: data_dir must hold {expected}")
        self.class_names = _subfolders(train_path)
        self.examples = {"train": list_images(train_path, self.class_names), "eval": ([], [])}
        if not self.examples["train"][0]:
            raise ValueError(f"no .jpg/.jpeg/.png images in {train_path}/<class>/")
        self.eval_path = os.path.join(data_dir, eval_dir)
        if tf.io.gfile.isdir(self.eval_path):
            self.examples["eval"] = list_images(self.eval_path, self.class_names)
        self.image_size = check_int("image_size", image_size, positive=True)
        self.augment = check_augment(augment)
        self.info = DatasetInfo(
            name="folder",
            num_classes=len(self.class_names),
            input_shape=(self.image_size, self.image_size, 3),
            num_train=len(self.examples["train"][0]),
            num_eval=len(self.examples["eval"][0]),
        )

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
        paths, labels = self.examples[pipeline.check_split(split)]
        if not paths:
            raise ValueError(f"no eval images: {self.eval_path}/<class>/ has no .jpg/.png files")
        size = pipeline.shard_size(len(paths), input_context)
        pipeline.check_batch_size(
            batch_size, size, pipeline.drops_remainder(training, drop_remainder), "images"
        )
        ds = tf.data.Dataset.from_tensor_slices((paths, tf.constant(labels, tf.int32)))
        ds = pipeline.shard(ds, input_context)
        if training:
            ds = ds.shuffle(size, seed=seed, reshuffle_each_iteration=True)
        ds = pipeline.with_seeds(ds, seed, salt=0)

        def example(path_and_label: tuple[tf.Tensor, tf.Tensor], element_seed: tf.Tensor):
            path, label = path_and_label
            image_bytes = preprocessing.check_image_bytes(tf.io.read_file(path), path)
            image = preprocessing.preprocess(
                image_bytes, self.image_size, training=training, seed=element_seed
            )
            return image, label

        ds = ds.map(example, num_parallel_calls=pipeline.AUTOTUNE)
        return pipeline.finish(
            ds,
            self,
            batch_size,
            training=training,
            seed=seed,
            drop_remainder=drop_remainder,
            normalize_fn=preprocessing.normalize,
        )
