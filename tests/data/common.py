"""Helpers for the dataset tests: tiny generated images and TFRecords, reading batches back."""

from __future__ import annotations

import os

import numpy as np
import tensorflow as tf

IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], np.float32)
IMAGENET_STD = np.array([0.229, 0.224, 0.225], np.float32)


def context(pipeline_id: int, num_pipelines: int = 2) -> tf.distribute.InputContext:
    return tf.distribute.InputContext(
        num_input_pipelines=num_pipelines,
        input_pipeline_id=pipeline_id,
        num_replicas_in_sync=num_pipelines,
    )


def batches(ds: tf.data.Dataset) -> list[tuple[np.ndarray, np.ndarray]]:
    return [(x.numpy(), y.numpy()) for x, y in ds]


def concat(ds: tf.data.Dataset) -> tuple[np.ndarray, np.ndarray]:
    pairs = batches(ds)
    return np.concatenate([x for x, _ in pairs]), np.concatenate([y for _, y in pairs])


def constant_image(value: int, height: int = 32, width: int = 24) -> np.ndarray:
    """An RGB uint8 image of one colour, ``(value, 255 - value, value // 2)``."""
    return np.broadcast_to(
        np.array([value, 255 - value, value // 2], np.uint8), (height, width, 3)
    ).copy()


def colour_id(images: np.ndarray) -> np.ndarray:
    """The ``value`` of :func:`constant_image` for each image of a batch in [0, 1]."""
    return np.round(images[:, :, :, 0].mean(axis=(1, 2)) * 255).astype(int)


def unnormalize(images: np.ndarray) -> np.ndarray:
    return images * IMAGENET_STD + IMAGENET_MEAN


def example(image_bytes: bytes, label: int) -> bytes:
    feature = {
        "image/encoded": tf.train.Feature(bytes_list=tf.train.BytesList(value=[image_bytes])),
        "image/class/label": tf.train.Feature(int64_list=tf.train.Int64List(value=[label])),
    }
    return tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString()


def write_records(path: str, records: list[bytes]) -> str:
    with tf.io.TFRecordWriter(path) as writer:
        for record in records:
            writer.write(record)
    return path


def write_imagenet(
    data_dir: str, num_train_files: int = 4, num_eval_files: int = 2, per_file: int = 3
) -> dict[str, list[int]]:
    """Standard-layout shards of random 32x24 JPEGs; returns the stored labels per file.

    Labels are 1-based and tell the file and position apart: ``1 + 10 * file + position``.
    """
    rng = np.random.default_rng(0)
    labels = {}
    for prefix, count in (("train", num_train_files), ("validation", num_eval_files)):
        for index in range(count):
            name = f"{prefix}-{index:05d}-of-{count:05d}"
            file_labels = [1 + 10 * index + position for position in range(per_file)]
            images = [rng.integers(0, 256, (32, 24, 3), dtype=np.uint8) for _ in file_labels]
            records = [
                example(tf.io.encode_jpeg(image).numpy(), label)
                for image, label in zip(images, file_labels)
            ]
            write_records(os.path.join(data_dir, name), records)
            labels[name] = file_labels
    return labels
