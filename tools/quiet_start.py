"""TensorFlow imported without its start-up log lines, for the console scripts.

TensorFlow's C++ side prints notices when it loads (oneDNN, "Could not find cuda
drivers", CPU instructions, "All log messages before absl::InitializeLog()") and when
it first looks for devices ("failed call to cuInit" on a machine without GPUs). In
TensorFlow 2.21 ``TF_CPP_MIN_LOG_LEVEL`` does not reach the ones printed while loading,
so :func:`import_tensorflow` sends the process's stderr (file descriptor 2, where C++
writes) to a scratch file meanwhile, and shows what it caught only if the import fails.
``TF_CPP_MIN_LOG_LEVEL`` (default here 2: errors only) covers what TensorFlow prints
later; set it to 0 to see everything.

It must run before anything imports TensorFlow: ``tools/__init__.py`` calls it.
"""

from __future__ import annotations

import os
import sys
import tempfile


def import_tensorflow() -> None:
    """Imports TensorFlow and lists the devices, with stderr silenced meanwhile.

    Listing the physical devices does not initialise them: logical devices can still be
    configured afterwards.
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if "tensorflow" in sys.modules:
        return
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as caught:
        os.dup2(caught.fileno(), 2)
        try:
            import tensorflow as tf

            tf.config.list_physical_devices()
        except BaseException:
            os.dup2(saved, 2)
            caught.seek(0)
            sys.stderr.write(caught.read().decode(errors="replace"))
            raise
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
