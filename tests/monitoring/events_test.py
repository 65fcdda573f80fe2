"""Reading scalars back from event files: both forms tf.summary writes, every file of a folder."""

import numpy as np
import tensorflow as tf

from lbkeras.monitoring.events import read_scalars, scalar_tags


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
