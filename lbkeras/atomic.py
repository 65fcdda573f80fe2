"""Writing a file so that it is either complete or absent, never half-written."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from typing import IO


def save_atomically(path: str, save: Callable[[str], None]) -> None:
    """Calls ``save(temporary_path)``, then renames the temporary file to ``path``.

    The temporary file lies beside ``path`` and ends like it (``model.save`` and
    ``save_weights`` choose their format by the ending). A killed process leaves either
    the old file or the new one; on an exception the temporary file is removed. Used
    for the MNIST-1D cache, the trainer's JSON outputs, its model and its backups.

    Example:
        >>> import tempfile
        >>> folder = tempfile.mkdtemp()
        >>> def save(path):
        ...     with open(path, "w") as f:
        ...         f.write("complete")
        >>> save_atomically(os.path.join(folder, "note.txt"), save)
        >>> os.listdir(folder)
        ['note.txt']
    """
    directory, name = os.path.split(path)
    handle, tmp = tempfile.mkstemp(dir=directory or ".", prefix=".tmp-", suffix=f"-{name}")
    os.close(handle)
    try:
        save(tmp)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def write_atomically(path: str, write: Callable[[IO], None], binary: bool = False) -> None:
    """Calls ``write(file)`` on a temporary file beside ``path``, then renames it to ``path``."""

    def save(tmp: str) -> None:
        with open(tmp, "wb" if binary else "w") as f:
            write(f)

    save_atomically(path, save)


def write_text(path: str, text: str) -> None:
    """Writes ``text`` to ``path`` atomically (see :func:`save_atomically`)."""
    write_atomically(path, lambda f: f.write(text))
