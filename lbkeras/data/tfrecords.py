"""Sharded TFRecord files: listing, per-worker file sharding, an up-front check, reading.

A TFRecord source shards FILES across input pipelines (workers): the matching files are sorted
and pipeline ``i`` of ``n`` reads ``files[i::n]`` (what ``Dataset.shard(n, i)`` on the file list
gives), so workers never read the same file. Training shuffles the file order and interleaves
16 files at a time, then shuffles records in a buffer; evaluation reads the files one after the
other, in sorted order. Every record travels with the name of its file, so that errors raised
while decoding it can name the file.

TensorFlow's own error for a damaged file (``DataLossError: corrupted record at 0``) does not
say which file; :func:`check_files` reads the first record of every file before training and
raises ``ValueError("corrupt TFRecord file PATH: ...")`` instead. Damage further inside a file
is still reported by TensorFlow without the file name.

Example:
    >>> import tempfile
    >>> data_dir = tempfile.TemporaryDirectory()
    >>> for i in range(2):
    ...     with tf.io.TFRecordWriter(f"{data_dir.name}/train-{i:05d}-of-00002") as writer:
    ...         writer.write(b"record %d" % i)
    >>> context = tf.distribute.InputContext(num_input_pipelines=2, input_pipeline_id=1)
    >>> files = shard_files(list_files(data_dir.name, "train-*-of-*"), context)
    >>> [os.path.basename(path) for path in files]
    ['train-00001-of-00002']
    >>> check_files(files, lambda record, file_name: record)  # raises for a corrupt file
    >>> [record for record, _ in read(files, training=True, seed=0, shuffle_buffer=10)]
    [<tf.Tensor: shape=(), dtype=string, numpy=b'record 1'>]
    >>> data_dir.cleanup()
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Sequence
from typing import Any

import tensorflow as tf

from lbkeras.data import pipeline

CYCLE_LENGTH = 16
READ_BUFFER_BYTES = 8 << 20


def list_files(data_dir: str | None, pattern: str) -> list[str]:
    """The files in ``data_dir`` matching ``pattern``, sorted.

    Raises:
        ValueError: ``data_dir`` is unset or missing, or nothing matches.
    """
    if not data_dir:
        raise ValueError(f"data_dir is required: the folder holding the {pattern} files")
    data_dir = os.path.expanduser(data_dir)
    if not tf.io.gfile.isdir(data_dir):
        raise ValueError(f"data_dir {data_dir} does not exist (expected {pattern} files in it)")
    files = sorted(tf.io.gfile.glob(os.path.join(data_dir, pattern)))
    if not files:
        raise ValueError(f"no files matching {pattern} in data_dir {data_dir}")
    return files


def shard_files(
    files: Sequence[str], input_context: tf.distribute.InputContext | None
) -> list[str]:
    """This input pipeline's files: ``files[pipeline_id::num_pipelines]``."""
    num_pipelines, pipeline_id = pipeline.pipeline_position(input_context)
    if len(files) < num_pipelines:
        raise ValueError(
            f"{len(files)} files cannot be shared by {num_pipelines} input pipelines "
            f"(each reads whole files), e.g. {files[0]}: use fewer workers or more files"
        )
    return list(files[pipeline_id::num_pipelines])


def check_files(files: Sequence[str], parse: Callable[[tf.Tensor, tf.Tensor], Any]) -> None:
    """Reads the first record of every file, in parallel, and calls ``parse(record, file_name)``.

    Raises:
        ValueError: ``corrupt TFRecord file PATH: REASON`` for the first file that fails.
    """

    def first_record(path: tf.Tensor) -> tf.data.Dataset:
        return tf.data.TFRecordDataset(path).take(1).map(lambda record: (path, parse(record, path)))

    readable = (
        tf.data.Dataset.from_tensor_slices(list(files))
        .interleave(first_record, num_parallel_calls=pipeline.AUTOTUNE, deterministic=False)
        .ignore_errors()
    )
    good = {path.decode() for path, _ in readable.as_numpy_iterator()}
    for path in files:
        if path not in good:  # failed, or holds no record: read it again to get the error
            try:
                for record in tf.data.TFRecordDataset(path).take(1):
                    parse(record, tf.constant(path))
            except tf.errors.OpError as error:
                reason = re.sub(r"\{\{.*?\}\}|\[Op:.*", "", error.message, flags=re.S).strip()
                raise ValueError(f"corrupt TFRecord file {path}: {reason}") from None


def count_records(files: Sequence[str]) -> int:
    """The number of records in ``files`` (reads them all: for small sets)."""
    return int(tf.data.TFRecordDataset(list(files)).reduce(0, lambda count, _: count + 1))


def read(
    files: Sequence[str], *, training: bool, seed: int | None, shuffle_buffer: int
) -> tf.data.Dataset:
    """Records of ``files`` as ``(record, file_name)`` string pairs.

    Training: file order shuffled from ``seed``, 16 files interleaved, records shuffled in a
    buffer of ``shuffle_buffer``. Evaluation: files in the given order, records in file order.
    """

    def records(path: tf.Tensor) -> tf.data.Dataset:
        ds = tf.data.TFRecordDataset(path, buffer_size=READ_BUFFER_BYTES)
        return ds.map(lambda record: (record, path))

    ds = tf.data.Dataset.from_tensor_slices(list(files))
    if training:
        ds = ds.shuffle(len(files), seed=seed, reshuffle_each_iteration=True)
    ds = ds.interleave(
        records,
        cycle_length=min(CYCLE_LENGTH, len(files)) if training else 1,
        num_parallel_calls=pipeline.AUTOTUNE,
        deterministic=True,
    )
    if training:
        record_seed = None if seed is None else seed + 1  # not the file-order shuffle's seed
        ds = ds.shuffle(shuffle_buffer, seed=record_seed, reshuffle_each_iteration=True)
    return ds
