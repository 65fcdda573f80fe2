"""Bit-identical runs: the same config and seed give the same weights, whatever the load.

TensorFlow runs the independent ops of a step in parallel on its inter-op thread pool.
On this project's 2-core CPU machines that made two runs of the same config and seed,
started at the same moment, end with different weights (``mnist1d_lamb_8k``: 0.9720
and 0.9675 test accuracy; five passes already differ by up to 6e-3 in a weight). The
input was not the cause (the batches hash alike under load), and neither TensorFlow's
``enable_op_determinism``, ``TF_ENABLE_ONEDNN_OPTS=0`` nor one *intra*-op thread
removed it; an MLP was bit-identical and ``mnist1d_cnn`` was not, so some convolution
kernel's result depends on which other ops run beside it. With one *inter*-op thread
the executor runs a step's ops one at a time (each op still uses every core through the
intra-op pool) and concurrent runs end bit-identical.

The thread count can only be set before TensorFlow's runtime starts (its first op, or
the first list of logical devices); :func:`run_ops_one_at_a_time` sets it then and, if
the runtime has started already, checks that it was set alike. The cost is measured by
``python benchmarks/determinism_cost.py`` (README, "Same seed, same result").

Example:
    >>> run_ops_one_at_a_time()  # the test session set it before TensorFlow started
    >>> tf.config.threading.get_inter_op_parallelism_threads()
    1
"""

from __future__ import annotations

import tensorflow as tf

#: Inter-op threads of a deterministic run.
DETERMINISTIC_INTER_OP_THREADS = 1


def run_ops_one_at_a_time() -> None:
    """Makes TensorFlow run the ops of a step one at a time (one inter-op thread).

    Raises:
        ValueError: TensorFlow's runtime started with more inter-op threads; the
            message names the two fixes.
    """
    try:
        tf.config.threading.set_inter_op_parallelism_threads(DETERMINISTIC_INTER_OP_THREADS)
    except RuntimeError:
        current = tf.config.threading.get_inter_op_parallelism_threads()
        if current != DETERMINISTIC_INTER_OP_THREADS:
            raise ValueError(
                "deterministic=True needs one TensorFlow inter-op thread, which can only be set "
                "before TensorFlow runs its first op: call "
                "lbkeras.determinism.run_ops_one_at_a_time() at the start of the program, or "
                "set deterministic=False (then the same seed may give other weights under load)"
            ) from None
