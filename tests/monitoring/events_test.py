"""Reading scalars back from event files: both forms tf.summary writes, every file of a folder."""

import time

import numpy as np
import pytest
import tensorflow as tf

from lbkeras.monitoring.events import read_scalar_events, read_scalars, scalar_tags


def test_scalars_of_every_event_file_in_a_folder(tmp_path):
    log_dir = str(tmp_path)
    for steps in ((0, 1, 2), (3, 4)):  # two writers: two event files, as after a resume
        writer = tf.summary.create_file_writer(log_dir)
        with writer.as_default():
            for step in steps:
                tf.summary.scalar("loss", 1.0 / (step + 1), step=step)
                tf.summary.scalar("rate", np.float64(step) * 0.1, step=step)
        writer.close()
    loss = read_scalars(log_dir, "loss")
    assert sorted(loss) == [0, 1, 2, 3, 4]
    np.testing.assert_allclose([loss[s] for s in range(5)], 1.0 / np.arange(1, 6), rtol=1e-6)
    np.testing.assert_allclose(read_scalars(log_dir, "rate")[4], 0.4, rtol=1e-6)
    assert scalar_tags(log_dir) == {"loss", "rate"}
    assert read_scalars(log_dir, "missing") == {}


def test_each_value_comes_with_the_time_it_was_written(tmp_path):
    log_dir = str(tmp_path)
    writer = tf.summary.create_file_writer(log_dir)
    stamps = []
    with writer.as_default():
        for step in range(3):
            before = time.time()
            tf.summary.scalar("accuracy", 0.5 + 0.1 * step, step=step)
            writer.flush()
            stamps.append((before, time.time()))
            time.sleep(0.05)
    writer.close()
    events = read_scalar_events(log_dir, "accuracy")
    assert sorted(events) == [0, 1, 2]
    for step, (before, after) in enumerate(stamps):
        assert before - 1e-3 <= events[step].wall_time <= after + 1e-3
        assert events[step].value == pytest.approx(0.5 + 0.1 * step, rel=1e-6)
    assert [events[s].value for s in events] == list(read_scalars(log_dir, "accuracy").values())
