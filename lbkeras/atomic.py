"""Writing a file so that it is either complete or absent, never half-written."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from typing import IO


def write_atomically(path: str, write: Callable[[IO], None], binary: bool = False) -> None:
    """Calls ``write(file)`` on a temporary file beside ``path``, then renames it to ``path``.

    A killed process leaves either the old file or the new one; on an exception the
    temporary file is removed. Used for the MNIST-1D cache and the trainer's JSON outputs.
    """
    directory, name = os.path.split(path)
    handle, tmp = tempfile.mkstemp(dir=directory or ".", prefix=".tmp-", suffix=f"-{name}")
    try:
        with os.fdopen(handle, "wb" if binary else "w") as f:
            write(f)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
