"""Byte-level text for language models: a user's ``.txt`` files, or the source of Keras.

Text is read as bytes; the vocabulary is the 256 byte values, so there is no tokenizer
to download or train. An example is a window of ``context`` bytes and its labels are
the next bytes: window ``i`` of a split is ``inputs = text[i*c : i*c + c]``,
``labels = text[i*c + 1 : i*c + c + 1]`` for ``c = context``, so the ``(N - 1) // c``
windows of an ``N``-byte split predict every byte after the first once per pass (the
last ``(N - 1) % c`` bytes are never a label). Training passes shuffle the windows;
evaluation reads them in order.

The corpus, by ``data_dir``:

* A folder: its ``*.txt`` files (also in subfolders), in sorted path order, each file
  followed by :data:`SEPARATOR`. Split rule (:func:`split_files`): with
  :data:`HOLDOUT_EVERY` (20) files or more, every 20th file (the 20th, 40th, ...) is
  the eval split, whole, so no window straddles the two splits; with fewer, the last
  twentieth of the concatenated bytes is.
* None (the default): the Python source of the installed Keras, ``keras/src/**/*.py``,
  split by the same rule. Keras is pinned (``requirements_lock.txt``: 3.15.1) and ships
  as one pure-Python wheel, so every machine with the pinned requirements reads the
  same bytes, with no network. For Keras 3.15.1: 770 files, 10,264,340 training bytes
  (732 files) and 513,129 eval bytes (38 files), separators included, SHA-256
  :data:`KERAS_SOURCE_SHA256` over both (measured with ``python -c "from lbkeras.data
  import text; print(text.corpus_sha256(*text.read_corpus(text.keras_source_files())))"``).
  It is cached as one ``.npz`` per Keras version (written atomically) with its
  SHA-256; a corpus from another Keras is used, with a warning that it is not the
  pinned one.

Why the Keras source is a fair test: it is ~10 MB of real, human-written text (code,
docstrings and comments in English) with the long-range structure a language model
must learn (indentation, matching brackets, names used far from where they are
defined), it is the same everywhere, and its eval files are whole files the model
never trains on. Code is more predictable than prose (lower bits per byte), and
Keras's files repeat licence-free boilerplate (imports, ``keras_export``
decorators), so absolute bits per byte are not comparable with prose benchmarks;
comparisons between batch sizes and optimizers on it are. Python's own standard
library would be larger, but differs between Python versions.

Sharding: by window, after a shuffle every worker does alike (as MNIST-1D), so global
batch ``k`` holds the same windows whatever the number of workers and replicas.

Example:
    >>> import pathlib, tempfile
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (folder / "a.txt").write_text("hello, world! " * 30)  # 420 bytes, 2 more after
    >>> source = TextDataset(str(folder), context=16)
    >>> source.info.task, source.info.num_train, source.info.num_eval  # of 401, 21 bytes
    ('next_byte', 25, 1)
    >>> inputs, labels = next(iter(source.make("train", 4, training=False)))
    >>> bytes(inputs.numpy()[0].tolist()), bytes(labels.numpy()[0].tolist())
    (b'hello, world! he', b'ello, world! hel')
"""

from __future__ import annotations

import glob
import hashlib
import logging
import os

import numpy as np
import tensorflow as tf

from lbkeras.atomic import write_atomically
from lbkeras.checks import check_int
from lbkeras.data import pipeline
from lbkeras.data.base import CACHE_DIR, NEXT_BYTE, Dataset, DatasetInfo

#: Every this many files (the last of each run of 20), one is held out for evaluation.
HOLDOUT_EVERY = 20
#: Follows each file in the concatenated corpus: ASCII's "file separator" control byte.
SEPARATOR = b"\x1c\n"
#: The SHA-256 of the default corpus (train bytes, then eval bytes) for the pinned Keras.
KERAS_SOURCE_SHA256 = "774ca7516b5cb1f474f0964e2c3de4cfeb9ed82e74fa6d42eeac046999a9a670"
VOCABULARY = 256


def split_files(paths: list[str]) -> tuple[list[str], list[str]]:
    """``(train, eval)`` paths of the sorted ``paths``: every :data:`HOLDOUT_EVERY`-th is eval."""
    paths = sorted(paths)
    held_out = set(range(HOLDOUT_EVERY - 1, len(paths), HOLDOUT_EVERY))
    train = [p for i, p in enumerate(paths) if i not in held_out]
    return train, [p for i, p in enumerate(paths) if i in held_out]


def read_corpus(paths: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """The ``(train, eval)`` bytes (uint8 arrays) of the files ``paths``, by the split rule."""
    if len(paths) >= HOLDOUT_EVERY:
        train, held_out = split_files(paths)
        return _concatenate(train), _concatenate(held_out)
    text = _concatenate(sorted(paths))
    cut = len(text) - len(text) // HOLDOUT_EVERY
    return text[:cut], text[cut:]


def _concatenate(paths: list[str]) -> np.ndarray:
    parts = []
    for path in paths:
        with open(path, "rb") as f:
            parts += [f.read(), SEPARATOR]
    return np.frombuffer(b"".join(parts), np.uint8)


def corpus_sha256(train: np.ndarray, held_out: np.ndarray) -> str:
    """The SHA-256 of a corpus: its train bytes, then its eval bytes."""
    return hashlib.sha256(train.tobytes() + held_out.tobytes()).hexdigest()


def keras_source_files() -> list[str]:
    """The ``.py`` files of the installed Keras's ``keras/src``, sorted by path."""
    import keras

    root = os.path.join(os.path.dirname(keras.__file__), "src")
    return sorted(glob.glob(os.path.join(root, "**", "*.py"), recursive=True))


def default_corpus(cache_dir: str = CACHE_DIR) -> tuple[np.ndarray, np.ndarray]:
    """The ``(train, eval)`` bytes of the installed Keras's source, cached in ``cache_dir``.

    Warns (``logging``) when the corpus is not the pinned Keras's (its SHA-256 is not
    :data:`KERAS_SOURCE_SHA256`): results on it are not comparable with others'.
    """
    import keras

    cache_dir = os.path.expanduser(cache_dir)
    path = os.path.join(cache_dir, f"text_keras_{keras.__version__}.npz")
    if not os.path.exists(path):
        train, held_out = read_corpus(keras_source_files())
        sha256 = corpus_sha256(train, held_out)
        os.makedirs(cache_dir, exist_ok=True)
        write_atomically(
            path,
            lambda f: np.savez(f, train=train, eval=held_out, sha256=sha256),
            binary=True,
        )
    with np.load(path) as data:
        train, held_out, sha256 = data["train"], data["eval"], str(data["sha256"])
    check_pinned(sha256, keras.__version__)
    return train, held_out


def check_pinned(sha256: str, version: str) -> bool:
    """Whether ``sha256`` is the pinned corpus's; if not, says so (a ``logging`` warning)."""
    if sha256 == KERAS_SOURCE_SHA256:
        return True
    logging.warning(
        "the default text corpus is the source of the installed Keras %s (SHA-256 %s), not "
        "the pinned Keras's (%s): results on it are not comparable with runs on the pinned "
        "requirements (requirements_lock.txt)",
        version,
        sha256,
        KERAS_SOURCE_SHA256,
    )
    return False


class TextDataset(Dataset):
    """Byte-level text as windows of ``context`` bytes and their next bytes (int32).

    Args:
        data_dir: a folder of ``.txt`` files; None: the source of the installed Keras.
        context: bytes per window (the model's ``input_shape``).
        cache_dir: where the default corpus is cached (default ``~/.cache/lbkeras``).
        train_fraction: keep only the first this fraction of the training bytes
            (``0 < train_fraction <= 1``), to study smaller corpora; eval is unchanged.
        eval_fraction: evaluate on the first this fraction of the eval bytes only
            (``0 < eval_fraction <= 1``): cheaper evaluations, e.g. for a scaling study
            that evaluates often (the full split costs ~4,000 windows of 128 bytes).
    """

    def __init__(
        self,
        data_dir: str | None = None,
        context: int = 128,
        cache_dir: str | None = None,
        train_fraction: float = 1.0,
        eval_fraction: float = 1.0,
    ) -> None:
        self.context = check_int("context", context, positive=True)
        for name, fraction in (
            ("train_fraction", train_fraction),
            ("eval_fraction", eval_fraction),
        ):
            if not 0 < fraction <= 1:
                raise ValueError(f"{name} must be in (0, 1], got {fraction!r}")
        if data_dir is None:
            train, held_out = default_corpus(cache_dir or CACHE_DIR)
        else:
            train, held_out = read_corpus(_text_files(data_dir))
        self.text = {
            "train": train[: round(len(train) * train_fraction)],
            "eval": held_out[: round(len(held_out) * eval_fraction)],
        }
        self.info = DatasetInfo(
            name="text",
            num_classes=VOCABULARY,
            input_shape=(self.context,),
            num_train=self.num_windows("train"),
            num_eval=self.num_windows("eval"),
            task=NEXT_BYTE,
        )
        for split in ("train", "eval"):
            if not self.num_windows(split):
                raise ValueError(
                    f"the {split} text ({len(self.text[split])} bytes) is shorter than one "
                    f"window of context={context} bytes and its next byte: add text or lower "
                    "context"
                )

    def num_windows(self, split: str) -> int:
        """Windows of ``split``: ``(bytes - 1) // context``."""
        return max(0, len(self.text[pipeline.check_split(split)]) - 1) // self.context

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
        """Batches of ``(inputs, labels)`` windows, int32 ``(batch, context)``; see
        :meth:`lbkeras.data.Dataset.make`."""
        num_windows = self.num_windows(split)
        drop = pipeline.drops_remainder(training, drop_remainder)
        size = pipeline.shard_size(num_windows, input_context)
        pipeline.check_batch_size(batch_size, size, drop, "windows")
        text = tf.constant(self.text[split])
        offsets = tf.range(self.context + 1, dtype=tf.int64)

        def windows(index: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
            window = tf.cast(tf.gather(text, index[:, None] * self.context + offsets), tf.int32)
            return window[:, :-1], window[:, 1:]

        ds = tf.data.Dataset.range(num_windows)
        if training:  # the same shuffle on every worker, then each keeps its share
            ds = ds.shuffle(max(1, num_windows), seed=seed, reshuffle_each_iteration=True)
        ds = pipeline.shard(ds, input_context)
        ds = ds.batch(batch_size, drop_remainder=drop).map(windows, pipeline.AUTOTUNE)
        return ds.prefetch(pipeline.AUTOTUNE)


def _text_files(data_dir: str) -> list[str]:
    folder = os.path.expanduser(data_dir)
    paths = sorted(glob.glob(os.path.join(folder, "**", "*.txt"), recursive=True))
    if not paths:
        raise ValueError(
            f"no .txt files in {data_dir!r}: point --data_dir at a folder of text files, or "
            "leave it empty for the default corpus (the source of Keras)"
        )
    return paths
