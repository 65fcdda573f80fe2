"""Reading scalars back from TensorBoard event files: for tests, benchmarks and plots.

TensorBoard's own ``EventAccumulator`` does the reading; this module only turns an
event folder into ``{step: value}`` (or ``{step: (wall_time, value)}``) for one tag,
whether ``tf.summary`` wrote it as a scalar or (as TF 2 does) as a tensor.
"""

from __future__ import annotations

import glob
import os
from typing import NamedTuple

from tensorboard.backend.event_processing.event_accumulator import EventAccumulator


class ScalarEvent(NamedTuple):
    """One logged value of a scalar and when it was written (seconds since the epoch)."""

    wall_time: float
    value: float


def read_scalar_events(log_dir: str, tag: str) -> dict[int, ScalarEvent]:
    """``{step: (wall_time, value)}`` of ``tag`` over all event files in ``log_dir``.

    tf.summary writes scalars as tensors; the accumulator exposes both forms.
    """
    events: dict[int, ScalarEvent] = {}
    for path in sorted(glob.glob(os.path.join(log_dir, "events.out.tfevents.*"))):
        accumulator = EventAccumulator(path, size_guidance={"tensors": 0, "scalars": 0})
        accumulator.Reload()
        tags = accumulator.Tags()
        if tag in tags.get("tensors", []):
            for event in accumulator.Tensors(tag):
                value = (
                    event.tensor_proto.float_val[0]
                    if event.tensor_proto.float_val
                    else _tensor_value(event.tensor_proto)
                )
                events[event.step] = ScalarEvent(event.wall_time, float(value))
        elif tag in tags.get("scalars", []):
            for event in accumulator.Scalars(tag):
                events[event.step] = ScalarEvent(event.wall_time, float(event.value))
    return events


def read_scalars(log_dir: str, tag: str) -> dict[int, float]:
    """``{step: value}`` of ``tag`` over all event files in ``log_dir``."""
    return {step: event.value for step, event in read_scalar_events(log_dir, tag).items()}


def _tensor_value(proto) -> float:
    import tensorflow as tf

    return float(tf.make_ndarray(proto))


def scalar_tags(log_dir: str) -> set[str]:
    """Every scalar tag written in ``log_dir`` (tensor-form summaries included)."""
    tags: set[str] = set()
    for path in glob.glob(os.path.join(log_dir, "events.out.tfevents.*")):
        accumulator = EventAccumulator(path, size_guidance={"tensors": 0, "scalars": 0})
        accumulator.Reload()
        tags.update(accumulator.Tags().get("tensors", []))
        tags.update(accumulator.Tags().get("scalars", []))
    return tags
