"""Batch-size schedules: the global batch as a function of examples seen, and a registry.

Every schedule maps examples seen to the global batch (:meth:`BatchSizeSchedule.batch_at`)
and derives the stages of a run from it (:meth:`BatchSizeSchedule.stages`: each change
takes effect at the first step boundary at or after it; see
:mod:`lbkeras.schedules.batch_size.base`). Schedules are keyed on examples so that the
learning-rate schedule of a run, keyed on examples too, does not shift when the batch
grows. When the batch changes by ``k``, :func:`lbkeras.scaling.transfer_hyperparameters`
says how every hyper-parameter changes with it.

Registered names (:func:`get`, :func:`names`):

* ``"constant"``: :class:`ConstantBatchSize` (``batch_size``).
* ``"steps"``: :class:`StepBatchSize` (``changes=[(examples, batch), ...]``), or in
  passes over the data: ``passes=[(passes, batch), ...]`` with ``num_train``.
* ``"ramp"``: :class:`RampBatchSize` (NeMo's ``rampup_batch_size``; ``doubling=True``).
* ``"seesaw"``: :class:`SeesawBatchSize` (Meterez et al. 2025).
* ``"adaptive"``: :class:`AdaptiveBatchSize` (follows a critical-batch estimate).

These are library pieces; the trainer's ``--batch_schedule`` is to come.

Example:
    >>> schedule = get("ramp", start_batch_size=64, batch_size=256, ramp_examples=2000,
    ...                doubling=True)
    >>> [(stage.first_step, stage.batch_size, stage.steps) for stage in schedule.stages(6000)]
    [(0, 64, 16), (16, 128, 8), (24, 256, 16)]
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from lbkeras.registry import Registry
from lbkeras.schedules.batch_size.adaptive import AdaptiveBatchSize, Decision
from lbkeras.schedules.batch_size.base import BatchSizeSchedule, Stage, check_batch_size
from lbkeras.schedules.batch_size.constant import ConstantBatchSize
from lbkeras.schedules.batch_size.ramp import RampBatchSize
from lbkeras.schedules.batch_size.seesaw import SeesawBatchSize
from lbkeras.schedules.batch_size.steps import StepBatchSize

__all__ = [
    "BATCH_SIZE_SCHEDULES",
    "AdaptiveBatchSize",
    "BatchSizeSchedule",
    "ConstantBatchSize",
    "Decision",
    "RampBatchSize",
    "SeesawBatchSize",
    "Stage",
    "StepBatchSize",
    "check_batch_size",
    "get",
    "names",
]


def _steps(
    changes: Sequence[tuple[int, int]] | None = None,
    passes: Sequence[tuple[float, int]] | None = None,
    num_train: int | None = None,
    multiple_of: int = 1,
) -> StepBatchSize:
    """:class:`StepBatchSize` from ``changes`` in examples, or ``passes`` with ``num_train``."""
    if (changes is None) == (passes is None):
        raise ValueError(
            "give changes=[(examples, batch), ...] or passes=[(passes, batch), ...] "
            "(with num_train), not both or neither"
        )
    if passes is None:
        if num_train is not None:
            raise ValueError("num_train converts passes: give passes=..., or drop num_train")
        return StepBatchSize(changes, multiple_of)
    if num_train is None:
        raise ValueError("passes need num_train, the number of training examples of a pass")
    return StepBatchSize.from_passes(passes, num_train, multiple_of)


BATCH_SIZE_SCHEDULES = Registry("batch-size schedule")
BATCH_SIZE_SCHEDULES.add("constant", ConstantBatchSize)
BATCH_SIZE_SCHEDULES.add("steps", _steps)
BATCH_SIZE_SCHEDULES.add("ramp", RampBatchSize)
BATCH_SIZE_SCHEDULES.add("seesaw", SeesawBatchSize)
BATCH_SIZE_SCHEDULES.add("adaptive", AdaptiveBatchSize)


def get(name: str, **options: Any) -> BatchSizeSchedule:
    """Builds the batch-size schedule registered under ``name`` with ``options``.

    Raises:
        ValueError: an unknown name (the message lists the choices) or bad options.
    """
    return BATCH_SIZE_SCHEDULES.get(name, **options)


def names() -> list[str]:
    """The registered batch-size schedule names, sorted."""
    return BATCH_SIZE_SCHEDULES.names()
