"""HParamsLogger: TensorBoard's HParams table shows each run's last eval metrics, whether
TensorBoard is pointed at the run's log folder or at a folder of several runs."""

import os

import keras
import numpy as np
import pytest

from lbkeras.callbacks import HParamsLogger, MetricsLogger, SummaryWriters
from tests.event_files import hparams_table, read_scalars


def _train(log_dir: str, learning_rate: float) -> None:
    """A tiny fit logging as the trainer does: metrics and the session via one writer per split."""
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])
    model.compile(
        keras.optimizers.SGD(learning_rate),
        keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    rng = np.random.default_rng(0)
    x = rng.normal(size=(32, 4)).astype("float32")
    y = rng.integers(0, 3, size=32)
    writers = SummaryWriters(log_dir)
    callbacks = [
        MetricsLogger(writers("train"), writers("eval")),
        HParamsLogger(writers("eval"), {"learning_rate": learning_rate, "optimizer": "sgd"}),
    ]
    model.fit(x, y, batch_size=16, epochs=2, validation_data=(x, y), callbacks=callbacks, verbose=0)
    writers.close()


def _last_eval(log_dir: str) -> dict[str, float]:
    eval_dir = os.path.join(log_dir, "eval")
    return {
        f"eval {tag}": read_scalars(eval_dir, tag)[4]  # 2 epochs of 2 steps
        for tag in ("accuracy", "loss")
    }


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    parent = str(tmp_path_factory.mktemp("runs"))
    for name, learning_rate in (("run1", 0.1), ("run2", 0.5)):
        _train(os.path.join(parent, name, "logs"), learning_rate)
    return parent


def test_one_runs_logs_show_its_eval_metrics(runs):
    log_dir = os.path.join(runs, "run1", "logs")
    table = hparams_table(log_dir)
    assert list(table) == ["eval"]  # one session: the run, in its eval folder
    assert table["eval"] == pytest.approx(_last_eval(log_dir), rel=1e-6)


def test_a_folder_of_runs_shows_each_runs_eval_metrics(runs):
    table = hparams_table(runs)
    assert sorted(table) == ["run1/logs/eval", "run2/logs/eval"]
    for name in ("run1", "run2"):
        expected = _last_eval(os.path.join(runs, name, "logs"))
        assert table[f"{name}/logs/eval"] == pytest.approx(expected, rel=1e-6)
    assert table["run1/logs/eval"]["eval loss"] != table["run2/logs/eval"]["eval loss"]


def test_one_event_file_per_split_and_a_folder_instead_of_a_writer(tmp_path):
    log_dir = str(tmp_path / "logs")
    _train(log_dir, 0.1)
    assert sorted(os.listdir(log_dir)) == ["eval", "train"]  # nothing in the log folder itself
    assert len(os.listdir(os.path.join(log_dir, "eval"))) == 1  # the session shares the writer
    own = HParamsLogger(str(tmp_path / "own"), {"seed": 0})
    own.on_train_begin()
    own.on_train_end()
    assert list(hparams_table(str(tmp_path / "own"))) == ["."]  # a session without metrics
