"""Strategies by name, worker roles, and the upstream-compatibility shim (only here)."""

from lbkeras.distribute import keras_compat
from lbkeras.distribute.strategy import (
    STRATEGIES,
    WorkerRole,
    across_workers,
    check_devices,
    check_global_batch,
    make_strategy,
    worker_role,
)

__all__ = [
    "STRATEGIES",
    "across_workers",
    "WorkerRole",
    "check_devices",
    "check_global_batch",
    "keras_compat",
    "make_strategy",
    "worker_role",
]
