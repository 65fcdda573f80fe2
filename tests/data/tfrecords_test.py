"""TFRecord files: listing errors, file sharding, the up-front check, reading order."""

import os

import numpy as np
import pytest
import tensorflow as tf

from lbkeras.data import tfrecords
from tests.data.common import context, write_records


def _write_numbered(data_dir, num_files=5, per_file=3):
    """``part-<i>`` files holding the records ``b"<i>:<j>"``."""
    return [
        write_records(
            os.path.join(data_dir, f"part-{i}"), [f"{i}:{j}".encode() for j in range(per_file)]
        )
        for i in range(num_files)
    ]


def test_list_files_is_sorted_and_errors_name_the_dir_and_pattern(tmp_path):
    files = _write_numbered(str(tmp_path))
    assert tfrecords.list_files(str(tmp_path), "part-*") == sorted(files)
    missing = str(tmp_path / "nowhere")
    with pytest.raises(ValueError, match=f"data_dir {missing} does not exist.*train-\\*-of-\\*"):
        tfrecords.list_files(missing, "train-*-of-*")
    with pytest.raises(ValueError, match=f"no files matching train-\\*-of-\\* in .*{tmp_path}"):
        tfrecords.list_files(str(tmp_path), "train-*-of-*")
    with pytest.raises(ValueError, match="data_dir is required"):
        tfrecords.list_files(None, "train-*-of-*")


def test_shard_files_gives_disjoint_file_sets_covering_all():
    files = [f"f{i}" for i in range(5)]
    shards = [tfrecords.shard_files(files, context(i)) for i in range(2)]
    assert shards == [["f0", "f2", "f4"], ["f1", "f3"]]
    assert tfrecords.shard_files(files, None) == files
    with pytest.raises(ValueError, match="2 files cannot be shared by 3 input pipelines"):
        tfrecords.shard_files(files[:2], context(0, 3))


def test_check_files_names_a_corrupt_file(tmp_path):
    files = _write_numbered(str(tmp_path), num_files=3)
    tfrecords.check_files(files, lambda record, _: record)
    with open(files[1], "wb") as f:
        f.write(np.random.default_rng(0).bytes(64))
    with pytest.raises(ValueError, match=f"corrupt TFRecord file {files[1]}: corrupted record"):
        tfrecords.check_files(files, lambda record, _: record)


def test_check_files_names_a_file_whose_records_do_not_parse(tmp_path):
    files = _write_numbered(str(tmp_path), num_files=2)
    spec = {"label": tf.io.FixedLenFeature([], tf.int64)}
    with pytest.raises(ValueError, match=f"corrupt TFRecord file {files[0]}: .*parse"):
        tfrecords.check_files(files, lambda record, _: tf.io.parse_single_example(record, spec))


def _read(files, training, seed):
    ds = tfrecords.read(files, training=training, seed=seed, shuffle_buffer=9)
    return [(record.decode(), name.decode()) for record, name in ds.as_numpy_iterator()]


def test_count_and_read_order(tmp_path):
    files = _write_numbered(str(tmp_path), num_files=3, per_file=2)
    assert tfrecords.count_records(files) == 6
    evaluation = _read(files, training=False, seed=0)
    assert [r for r, _ in evaluation] == ["0:0", "0:1", "1:0", "1:1", "2:0", "2:1"]
    assert all(name == files[int(record[0])] for record, name in evaluation)
    assert _read(files, training=True, seed=1) == _read(files, training=True, seed=1)
    assert sorted(_read(files, training=True, seed=1)) == evaluation
    assert _read(files, training=True, seed=1) not in (evaluation, _read(files, True, seed=2))
