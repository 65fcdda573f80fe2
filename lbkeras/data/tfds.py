"""Any TensorFlow Datasets (TFDS) dataset already prepared in ``data_dir``: ``tfds:NAME``.

``NAME`` is what ``tfds.builder`` takes ("cifar10", "mnist:3.0.1", "imagenet2012"). Nothing is
downloaded unless ``download=True``: a dataset that is not prepared fails with a message naming
it, the folder looked in and how to prepare it. Features ``"image"`` and ``"label"`` by default
(``image_key``/``label_key`` name others). Features become float32, uint8 images scaled to
[0, 1]. With ``image_size``, images are decoded from their stored bytes with the ImageNet crops
of :mod:`lbkeras.data.preprocessing` (needed when their sizes differ, e.g. imagenet2012), and
``normalize=True`` applies the ImageNet mean/std.

Sharding: by examples, through TFDS: pipeline ``i`` of ``n`` reads
``tfds.even_splits(split, n)[i]``, a contiguous range of the split (only the files that hold it),
so any number of workers works whatever the number of files.

Example (not run: it needs CIFAR-10 prepared in ``/data/tfds``)::

    source = TFDSDataset("cifar10", data_dir="/data/tfds", augment="cutmix")
    source.info.input_shape, source.soft_labels  # ((32, 32, 3), True)
"""

from __future__ import annotations

import os

import tensorflow as tf
import tensorflow_datasets as tfds

from lbkeras.checks import check_int
from lbkeras.data import pipeline, preprocessing
from lbkeras.data.base import Dataset, DatasetInfo, check_augment


def load_builder(name: str, data_dir: str | None, download: bool) -> tfds.core.DatasetBuilder:
    """The TFDS builder of ``name``, after checking it is prepared (or preparing it).

    Raises:
        ValueError: ``name`` is not prepared in ``data_dir`` (and ``download`` is False).
    """
    root = os.path.expanduser(data_dir) if data_dir else tfds.core.constants.DATA_DIR
    how = (
        f"prepare it where there is internet with `tfds build {name} --data_dir={root}` "
        f"(or tensorflow_datasets.builder({name!r}, data_dir=...).download_and_prepare()) and "
        "copy the folder here, or pass download=True to download it now"
    )
    try:
        builder = tfds.builder(name, data_dir=root)
    except tfds.core.DatasetNotFoundError:
        raise ValueError(
            f"TFDS dataset {name!r} is not prepared in data_dir {root}, and TFDS knows no "
            f"such dataset to build: check the name, or {how}"
        ) from None
    if download:
        builder.download_and_prepare()
    elif not builder.is_prepared():
        raise ValueError(
            f"TFDS dataset {name!r} is not prepared in data_dir {root} (looked for "
            f"{builder.data_dir}): {how}"
        )
    return builder


class TFDSDataset(Dataset):
    """A prepared TFDS dataset as a dataset source.

    Args:
        name: the TFDS name (with an optional ``:version`` or ``/config``).
        data_dir: the TFDS data folder (default: ``$TFDS_DATA_DIR`` or ``~/tensorflow_datasets``).
        image_key: the feature used as input.
        label_key: the feature used as label.
        train_split: the TFDS split for "train" (slices such as "train[:90%]" work).
        eval_split: the TFDS split for "eval"; None: "validation" if there is one, else "test".
        image_size: decode and crop images to ``(image_size, image_size)`` as ImageNet does;
            None: use the stored features as they are (they must have a fixed shape).
        num_classes: only for labels that are not a ``ClassLabel`` feature.
        normalize: subtract the ImageNet mean and divide by its std (RGB images).
        augment: None, "mixup", "cutmix" or "randaugment" (image features only).
        shuffle_buffer: examples in the training shuffle buffer.
        download: download and prepare the dataset if it is not there.
    """

    def __init__(
        self,
        name: str,
        data_dir: str | None = None,
        image_key: str = "image",
        label_key: str = "label",
        train_split: str = "train",
        eval_split: str | None = None,
        image_size: int | None = None,
        num_classes: int | None = None,
        normalize: bool = False,
        augment: str | None = None,
        shuffle_buffer: int = 10_000,
        download: bool = False,
    ) -> None:
        self.builder = load_builder(name, data_dir, download)
        features, splits = self.builder.info.features, self.builder.info.splits
        for key in (image_key, label_key):
            if key not in features:
                raise ValueError(f"TFDS dataset {name!r} has no feature {key!r}: {features}")
        if eval_split is None:
            eval_split = "validation" if "validation" in splits else "test"
        self.splits = {"train": train_split, "eval": eval_split}
        self.image_key, self.label_key = image_key, label_key
        self.image_size = image_size and check_int("image_size", image_size, positive=True)
        self.normalize = normalize
        self.augment = check_augment(augment)
        self.shuffle_buffer = check_int("shuffle_buffer", shuffle_buffer, positive=True)
        self.input_dtype = features[image_key].tf_dtype
        if num_classes is None:
            num_classes = getattr(features[label_key], "num_classes", None)
            if num_classes is None:
                raise ValueError(f"{label_key!r} of {name!r} is no ClassLabel: pass num_classes")
        shape = tuple(features[image_key].shape)
        if self.image_size:
            if not isinstance(features[image_key], tfds.features.Image):
                raise ValueError(f"image_size needs an Image feature; {image_key!r} is not one")
            shape = (self.image_size, self.image_size, shape[-1])
        elif None in shape:
            raise ValueError(
                f"{image_key!r} of {name!r} has no fixed shape {shape}: pass image_size=N to "
                "crop and resize the images"
            )
        if (normalize or self.augment) and (len(shape) != 3 or shape[-1] != 3):
            raise ValueError(f"normalize and augment need RGB images (h, w, 3), not {shape}")
        self.info = DatasetInfo(
            name=f"tfds:{name}",
            num_classes=check_int("num_classes", num_classes, positive=True),
            input_shape=shape,
            num_train=splits[train_split].num_examples,
            num_eval=splits[eval_split].num_examples,
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
        tfds_split = self.splits[pipeline.check_split(split)]
        num_pipelines, pipeline_id = pipeline.pipeline_position(input_context)
        if num_pipelines > 1:
            tfds_split = tfds.even_splits(tfds_split, n=num_pipelines)[pipeline_id]
        size = self.builder.info.splits[tfds_split].num_examples
        pipeline.check_batch_size(
            batch_size, size, pipeline.drops_remainder(training, drop_remainder), "examples"
        )
        ds = self.builder.as_dataset(
            split=tfds_split,
            shuffle_files=training,
            read_config=tfds.ReadConfig(shuffle_seed=seed),
            decoders={self.image_key: tfds.decode.SkipDecoding()} if self.image_size else None,
        )
        ds = ds.map(lambda example: (example[self.image_key], example[self.label_key]))
        if training:
            ds = ds.shuffle(self.shuffle_buffer, seed=seed, reshuffle_each_iteration=True)
        ds = pipeline.with_seeds(ds, seed, salt=0)

        def example(image_and_label: tuple[tf.Tensor, tf.Tensor], element_seed: tf.Tensor):
            image, label = image_and_label
            if self.image_size:
                image = preprocessing.preprocess(
                    image,
                    self.image_size,
                    training=training,
                    seed=element_seed,
                    channels=self.info.input_shape[-1],
                )
            elif self.input_dtype == tf.uint8:
                image = tf.cast(image, tf.float32) / 255.0
            return image, label

        ds = ds.map(example, num_parallel_calls=pipeline.AUTOTUNE)
        return pipeline.finish(
            ds,
            self,
            batch_size,
            training=training,
            seed=seed,
            drop_remainder=drop_remainder,
            normalize_fn=preprocessing.normalize if self.normalize else None,
        )
