"""Tests for lbkeras.data.text: the split rule, windows that cover the text as stated,
exact sharding over 2 pipelines, exact resumption mid-pass, and the default corpus."""

from __future__ import annotations

import collections
import logging
import os

import numpy as np
import pytest

from lbkeras.data import text
from lbkeras.data.stream import training_stream
from lbkeras.data.text import TextDataset
from tests.data.common import batches, concat, context

CONTEXT = 16
SEPARATOR = b"\x1c\n"


def _write_files(folder, sizes, seed=0) -> list[bytes]:
    """Files 00.txt, 01.txt, ... (every third in a subfolder) of random bytes; their contents."""
    rng = np.random.default_rng(seed)
    contents = []
    for i, size in enumerate(sizes):
        path = folder / ("sub" if i % 3 == 2 else "") / f"{i:02d}.txt"
        path.parent.mkdir(exist_ok=True)
        contents.append(rng.integers(0, 256, size, dtype=np.uint8).tobytes())
        path.write_bytes(contents[-1])
    return contents


def _sorted_by_path(contents):  # files in the order of their sorted paths
    paths = [("sub/" if i % 3 == 2 else "") + f"{i:02d}.txt" for i in range(len(contents))]
    return [contents[i] for i in sorted(range(len(contents)), key=lambda i: paths[i])]


@pytest.fixture
def source(tmp_path):
    _write_files(tmp_path, [60] * 25)  # 24 training files of 62 bytes: 92 windows of 16
    return TextDataset(str(tmp_path), context=CONTEXT)


def _keys(x):
    return [row.tobytes() for row in x]


def test_every_20th_file_is_held_out_whole(tmp_path):
    contents = _sorted_by_path(_write_files(tmp_path, range(100, 141)))  # 41 files
    source = TextDataset(str(tmp_path), context=CONTEXT)
    held_out = [contents[19], contents[39]]
    train = [c for i, c in enumerate(contents) if i not in (19, 39)]
    assert source.text["eval"].tobytes() == b"".join(c + SEPARATOR for c in held_out)
    assert source.text["train"].tobytes() == b"".join(c + SEPARATOR for c in train)


def test_fewer_than_20_files_hold_out_the_last_twentieth(tmp_path):
    contents = _sorted_by_path(_write_files(tmp_path, [500, 300, 201]))
    whole = b"".join(c + SEPARATOR for c in contents)  # 1007 bytes: the last 50 are eval
    source = TextDataset(str(tmp_path), context=CONTEXT)
    assert source.text["train"].tobytes() == whole[:957]
    assert source.text["eval"].tobytes() == whole[957:]
    assert source.info.num_train == 956 // CONTEXT and source.info.num_eval == 49 // CONTEXT


def test_windows_cover_the_text_once_per_pass(source):
    assert source.info.num_train == (24 * 62 - 1) // CONTEXT == 92
    assert (source.info.num_classes, source.info.input_shape) == (256, (CONTEXT,))
    assert (source.info.task, source.info.tokens_per_example) == ("next_byte", CONTEXT)
    for split in ("train", "eval"):
        data = source.text[split].astype(np.int32)
        n = source.num_windows(split)
        x, y = concat(source.make(split, 5, training=False))  # in order, last batch partial
        assert x.dtype == y.dtype == np.int32 and x.shape == y.shape == (n, CONTEXT)
        np.testing.assert_array_equal(x.ravel(), data[: n * CONTEXT])
        np.testing.assert_array_equal(y.ravel(), data[1 : n * CONTEXT + 1])
    ordered = _keys(concat(source.make("train", 5, training=False))[0])
    passes = [
        _keys(concat(source.make("train", 5, training=True, seed=s, drop_remainder=False))[0])
        for s in (0, 1)
    ]
    for shuffled in passes:  # a permutation of all windows
        assert sorted(shuffled) == sorted(ordered) and shuffled != ordered
    assert passes[0] != passes[1]


def test_two_pipelines_split_each_global_batch_exactly(source):
    # 92 windows, 46 per pipeline, batches of 24 (12 each): passes end inside batches.
    whole = batches(training_stream(source, 24, seed=5, start_batch=0, num_batches=10))
    shards = [
        batches(
            training_stream(
                source, 12, seed=5, start_batch=0, num_batches=10, input_context=context(i)
            )
        )
        for i in (0, 1)
    ]
    for k, (x, _) in enumerate(whole):
        parts = np.concatenate([shards[0][k][0], shards[1][k][0]])
        assert sorted(_keys(parts)) == sorted(_keys(x))  # the same windows, as a multiset
    seen = collections.Counter(key for x, _ in whole for key in _keys(x))
    assert len(seen) == 92 and sum(seen.values()) == 240  # 2 whole passes and 56 windows


@pytest.mark.parametrize("pipeline_id", [None, 1])
def test_a_resumed_stream_continues_exactly(source, pipeline_id):
    input_context = None if pipeline_id is None else context(pipeline_id)
    batch = 7

    def stream(start, count):
        return batches(
            training_stream(
                source,
                batch,
                seed=2,
                start_batch=start,
                num_batches=count,
                input_context=input_context,
            )
        )

    uninterrupted = stream(0, 30)  # several passes
    for start in (5, 13, 27):  # mid-pass, and at or across pass boundaries
        for (x, y), (x_ref, y_ref) in zip(stream(start, 30 - start), uninterrupted[start:]):
            np.testing.assert_array_equal(x, x_ref)
            np.testing.assert_array_equal(y, y_ref)


def test_train_fraction_keeps_the_first_bytes(tmp_path):
    _write_files(tmp_path, [60] * 25)
    full = TextDataset(str(tmp_path), context=CONTEXT)
    quarter = TextDataset(str(tmp_path), context=CONTEXT, train_fraction=0.25)
    assert quarter.text["train"].tobytes() == full.text["train"][:372].tobytes()
    assert quarter.info.num_train == 371 // CONTEXT
    assert quarter.text["eval"].tobytes() == full.text["eval"].tobytes()


def test_eval_fraction_keeps_the_first_eval_bytes(tmp_path):
    _write_files(tmp_path, [60] * 25)  # 1 eval file: 60 bytes and the separator
    full = TextDataset(str(tmp_path), context=CONTEXT)
    half = TextDataset(str(tmp_path), context=CONTEXT, eval_fraction=0.5)
    assert len(full.text["eval"]) == 62
    assert half.text["eval"].tobytes() == full.text["eval"][:31].tobytes()
    assert half.info.num_eval == 30 // CONTEXT
    assert half.text["train"].tobytes() == full.text["train"].tobytes()


def test_the_default_corpus_is_the_pinned_keras_source_and_is_cached(tmp_path):
    source = TextDataset(context=128, cache_dir=str(tmp_path))
    train, held_out = source.text["train"], source.text["eval"]
    assert text.corpus_sha256(train, held_out) == text.KERAS_SOURCE_SHA256
    files = text.keras_source_files()
    eval_files = files[19::20]
    assert len(files) == 770 and len(eval_files) == 38
    assert len(held_out) == sum(os.path.getsize(f) + 2 for f in eval_files) == 513_129
    assert len(train) == sum(os.path.getsize(f) + 2 for f in files) - len(held_out)
    assert len(train) >= 10_000_000 and source.info.num_train == (len(train) - 1) // 128
    with open(eval_files[0], "rb") as f:  # whole files, each followed by the separator
        first = f.read()
    assert held_out[: len(first) + 2].tobytes() == first + SEPARATOR
    [cache] = os.listdir(tmp_path)
    assert cache.startswith("text_keras_") and cache.endswith(".npz")
    mtime = os.path.getmtime(tmp_path / cache)
    again = TextDataset(context=128, cache_dir=str(tmp_path))
    assert os.path.getmtime(tmp_path / cache) == mtime  # read, not rebuilt
    np.testing.assert_array_equal(again.text["train"], train)


def test_another_corpus_is_said(caplog):
    assert text.check_pinned(text.KERAS_SOURCE_SHA256, "3.15.1")
    with caplog.at_level(logging.WARNING):
        assert not text.check_pinned("0" * 64, "3.99.0")
    assert "not the pinned Keras" in caplog.text and "3.99.0" in caplog.text


def test_missing_or_short_text_is_a_clear_error(tmp_path):
    with pytest.raises(ValueError, match="no .txt files in"):
        TextDataset(str(tmp_path))
    (tmp_path / "a.txt").write_bytes(b"x" * 200)
    with pytest.raises(ValueError, match="eval text .* shorter than one window"):
        TextDataset(str(tmp_path), context=16)  # 202 bytes: 10 eval bytes
    with pytest.raises(ValueError, match="train_fraction"):
        TextDataset(str(tmp_path), context=4, train_fraction=0)
    with pytest.raises(ValueError, match="eval_fraction must be in"):
        TextDataset(str(tmp_path), context=4, eval_fraction=1.5)
