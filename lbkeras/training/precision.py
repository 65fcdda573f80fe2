"""Mixed precision for the length of a run: the names a config gives, and a block that
sets Keras's global dtype policy and puts float32 back after it, also on an error.

Keras's policy is process-global state: a run (or an lr range test, or a batch-size
probe) that set it and left it would change every model built after it in the process.

Example:
    >>> with mixed_precision("bfloat16"):
    ...     keras.mixed_precision.global_policy().name
    'mixed_bfloat16'
    >>> keras.mixed_precision.global_policy().name
    'float32'
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import keras

#: ``mixed_precision`` names and the Keras policy each sets.
MIXED_PRECISION_POLICIES = {
    "none": "float32",
    "float16": "mixed_float16",
    "bfloat16": "mixed_bfloat16",
}


@contextlib.contextmanager
def mixed_precision(name: str) -> Iterator[None]:
    """Sets the global policy of ``name`` (a key of :data:`MIXED_PRECISION_POLICIES`)
    inside the block; ``float32`` after it, however it ends."""
    keras.mixed_precision.set_global_policy(MIXED_PRECISION_POLICIES[name])
    try:
        yield
    finally:
        keras.mixed_precision.set_global_policy("float32")
