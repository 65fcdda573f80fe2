"""ImageNet (ILSVRC-2012) from the standard TFRecord shards, with ResNet preprocessing.

Reads ``train-*-of-*`` and ``validation-*-of-*`` files (e.g. 1024 and 128 shards written by
TensorFlow's ``build_imagenet_data.py`` / ``imagenet_to_gcs.py``) whose ``tf.train.Example``
records hold ``image/encoded`` (JPEG bytes) and ``image/class/label`` (1..1000: the shards keep
0 for "background", so ``label_offset=1`` is subtracted). Training images get a random-resized
crop and flip, evaluation images the 0.875 central crop (:mod:`lbkeras.data.preprocessing`), and
both are normalised by the ImageNet mean and std after batching and augmentation.

Sharding: TFRecord files; pipeline ``i`` of ``n`` reads ``sorted(files)[i::n]``
(:mod:`lbkeras.data.tfrecords`). ``make`` first reads the first record of every file, so that a
corrupt file fails at once with ``ValueError("corrupt TFRecord file PATH: ...")``; a bad image or
an out-of-range label fails while training with an error naming its file.

References:
    Russakovsky et al., "ImageNet Large Scale Visual Recognition Challenge", IJCV 2015.
    Goyal et al., "Accurate, Large Minibatch SGD: Training ImageNet in 1 Hour", 2017.

Example (not run: it needs the ImageNet shards; tests/data/imagenet_test.py writes tiny ones)::

    source = ImageNetDataset("/data/imagenet", augment="mixup")
    ds = source.make("train", 256, training=True, input_context=context, seed=0)
"""

from __future__ import annotations

import tensorflow as tf

from lbkeras.checks import check_int
from lbkeras.data import pipeline, preprocessing, tfrecords
from lbkeras.data.base import Dataset, DatasetInfo, check_augment

NUM_TRAIN = 1_281_167
NUM_EVAL = 50_000


class ImageNetDataset(Dataset):
    """ImageNet TFRecord shards as a dataset source.

    Args:
        data_dir: the folder holding the shards (required).
        image_size: side of the square crops; ``input_shape`` is ``(image_size, image_size, 3)``.
        num_classes: number of classes.
        label_offset: subtracted from the stored labels (1 for the standard 1-based shards).
        num_train: training examples; None counts the records (reads every file: small sets).
        num_eval: evaluation examples; None counts the records.
        augment: None, "mixup", "cutmix" or "randaugment" (training batches only).
        shuffle_buffer: records in the training shuffle buffer.
        check_files: read the first record of every file in ``make`` (see the module docstring).
        image_key: the feature holding the encoded image.
        label_key: the feature holding the integer label.
        train_pattern: file pattern of the train split.
        eval_pattern: file pattern of the eval split.
    """

    def __init__(
        self,
        data_dir: str | None = None,
        image_size: int = 224,
        num_classes: int = 1000,
        label_offset: int = 1,
        num_train: int | None = NUM_TRAIN,
        num_eval: int | None = NUM_EVAL,
        augment: str | None = None,
        shuffle_buffer: int = 10_000,
        check_files: bool = True,
        image_key: str = "image/encoded",
        label_key: str = "image/class/label",
        train_pattern: str = "train-*-of-*",
        eval_pattern: str = "validation-*-of-*",
    ) -> None:
        self.data_dir = data_dir
        self.image_size = check_int("image_size", image_size, positive=True)
        self.label_offset = check_int("label_offset", label_offset)
        self.augment = check_augment(augment)
        self.shuffle_buffer = check_int("shuffle_buffer", shuffle_buffer, positive=True)
        self.check_files = check_files
        self.image_key = image_key
        self.label_key = label_key
        self.patterns = {"train": train_pattern, "eval": eval_pattern}
        if num_train is None:
            num_train = tfrecords.count_records(self.files("train"))
        if num_eval is None:
            num_eval = tfrecords.count_records(self.files("eval"))
        self.info = DatasetInfo(
            name="imagenet",
            num_classes=check_int("num_classes", num_classes, positive=True),
            input_shape=(self.image_size, self.image_size, 3),
            num_train=check_int("num_train", num_train, positive=True),
            num_eval=check_int("num_eval", num_eval, positive=True),
        )

    def files(
        self, split: str, input_context: tf.distribute.InputContext | None = None
    ) -> list[str]:
        """The sorted files of ``split`` that this input pipeline reads."""
        pattern = self.patterns[pipeline.check_split(split)]
        return tfrecords.shard_files(tfrecords.list_files(self.data_dir, pattern), input_context)

    def parse(self, record: tf.Tensor, file_name: tf.Tensor) -> dict[str, tf.Tensor]:
        """``{"image": encoded bytes, "label": int32 label - label_offset}`` of one record.

        Asserts that the image is a JPEG or PNG and the label in range, naming ``file_name``.
        """
        example = tf.io.parse_single_example(
            record,
            {
                self.image_key: tf.io.FixedLenFeature([], tf.string),
                self.label_key: tf.io.FixedLenFeature([], tf.int64),
            },
        )
        label = tf.cast(example[self.label_key], tf.int32) - self.label_offset
        in_range = tf.debugging.Assert(
            (label >= 0) & (label < self.info.num_classes),
            [f"label - label_offset ({self.label_offset}) out of range:", label, "in", file_name],
        )
        image = preprocessing.check_image_bytes(example[self.image_key], file_name)
        with tf.control_dependencies([in_range]):
            return {"image": image, "label": tf.identity(label)}

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
        check_int("batch_size", batch_size, positive=True)
        files = self.files(split, input_context)
        if self.check_files:
            tfrecords.check_files(files, self.parse)
        ds = tfrecords.read(files, training=training, seed=seed, shuffle_buffer=self.shuffle_buffer)
        ds = pipeline.with_seeds(ds, seed, salt=0)

        def example(record_and_file: tuple[tf.Tensor, tf.Tensor], element_seed: tf.Tensor):
            parsed = self.parse(*record_and_file)
            image = preprocessing.preprocess(
                parsed["image"], self.image_size, training=training, seed=element_seed
            )
            return image, parsed["label"]

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
