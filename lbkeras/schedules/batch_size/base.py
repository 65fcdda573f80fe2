"""What every batch-size schedule shares: the batch as a function of examples seen, and stages.

A batch-size schedule maps the number of training examples seen so far to the global
batch (summed over replicas and workers). It is keyed on examples, not steps, because
steps depend on the batch: a learning-rate schedule written in steps shifts when the
batch grows (Megatron-Bridge #2609). The steps of a run are derived from the schedule
by :meth:`BatchSizeSchedule.stages`, with two exact rules:

**The step that starts after ``e`` examples has the batch ``batch_at(e)``.** A change
nominally at ``c`` examples so takes effect at the first step boundary at or after
``c`` (at most one step late), as in Megatron-LM and NeMo, which set the batch from the
samples consumed before each step; a batch whose interval ends inside one step is
skipped. ``batch_at`` is therefore also the batch of every step, and anything keyed on
examples (the learning rate, Seesaw's factor) changes at the same step as the batch. A
stage need not start at a multiple of its batch: it reads examples ``first_example``
on of the training stream, a function of the seed and the example index. OLMo-core
waits instead for a batch boundary of the new size; from ``a`` to ``b`` that is up to
``lcm(a, b) / a - 1`` steps late (NeMo's ramp from 256 by 128 to 1024 over 3,000
examples would keep 640 from 1,920 to 5,120 examples and never use 512, 768 or 896),
so it is not used here. For doublings it is the same rule when each change is put at a
multiple of the new batch.

**The run ends at the first step boundary at or after the total.** The last step is a
whole batch, so a run of ``total_examples`` trains on up to ``batch - 1`` examples more.

References:
    Merrill, Arora, Groeneveld, Hajishirzi, "Critical Batch Size Revisited: A Simple
    Empirical Approach to Large-Batch Language Model Training", arXiv 2505.23971, 2025
    (OLMo-core's batch-size scheduler).

Example:
    >>> schedule = lbkeras.schedules.batch_size.StepBatchSize([(0, 2), (5, 4)])
    >>> schedule.batch_at(4), schedule.batch_at(5)
    (2, 4)
    >>> schedule.stages(13)  # steps of 2 end at 2, 4, 6: the batch 4 from 6 on, to 14
    [Stage(first_step=0, first_example=0, batch_size=2, steps=3),
     Stage(first_step=3, first_example=6, batch_size=4, steps=2)]
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from typing import Any, NamedTuple

from lbkeras.checks import check_int


class Stage(NamedTuple):
    """A run of steps at one global batch.

    Attributes:
        first_step: the first optimizer step of the stage (0-based).
        first_example: examples seen before the stage.
        batch_size: the global batch of every step of the stage.
        steps: how many steps the stage has (at least 1).
    """

    first_step: int
    first_example: int
    batch_size: int
    steps: int

    @property
    def end_step(self) -> int:
        """The first step after the stage."""
        return self.first_step + self.steps

    @property
    def end_example(self) -> int:
        """Examples seen at the end of the stage."""
        return self.first_example + self.steps * self.batch_size


def stage_index(stages: Sequence[Stage], step: int) -> int:
    """The index of the stage holding optimizer step ``step`` (the last one past the end)."""
    return next((i for i, s in enumerate(stages) if step < s.end_step), len(stages) - 1)


def examples_before(stages: Sequence[Stage], step: int) -> int:
    """Examples trained on before optimizer step ``step`` under ``stages`` (past the last
    stage, at its batch).

    Example:
        >>> stages = lbkeras.schedules.batch_size.StepBatchSize([(0, 2), (5, 4)]).stages(13)
        >>> [examples_before(stages, step) for step in range(6)]
        [0, 2, 4, 6, 10, 14]"""
    stage = stages[stage_index(stages, step)]
    return stage.first_example + (step - stage.first_step) * stage.batch_size


def check_batch_size(name: str, value: Any, multiple_of: int) -> int:
    """``value`` as a positive int, after checking ``multiple_of`` divides it.

    Example:
        >>> check_batch_size("batch_size", 96, multiple_of=64)
        Traceback (most recent call last):
        ...
        ValueError: batch_size=96 does not split over multiple_of=64 replicas: choose a
        multiple of 64 (64 or 128)
    """
    value = check_int(name, value, positive=True)
    if value % multiple_of:
        below = value // multiple_of * multiple_of
        choices = f"{below} or {below + multiple_of}" if below else f"{multiple_of}"
        raise ValueError(
            f"{name}={value} does not split over multiple_of={multiple_of} replicas: "
            f"choose a multiple of {multiple_of} ({choices})"
        )
    return value


def check_factor(factor: Any) -> int:
    """``factor`` as an int, after checking it is an integer growth ``>= 2``."""
    factor = check_int("factor", factor, positive=True)
    if factor < 2:
        raise ValueError(f"factor must be an integer >= 2 (2 doubles the batch), got {factor}")
    return factor


def _ceil_to(value: int, multiple: int) -> int:
    """The smallest multiple of ``multiple`` that is ``>= value``."""
    return -(-value // multiple) * multiple


class BatchSizeSchedule:
    """Base class: the global batch as a piecewise-constant function of examples seen.

    A subclass says where its batch changes (:meth:`change_points`) and what builds
    it (``get_config``); this class derives the batch at any example count, the stages
    of a run (the rule in the module docstring) and serialisation.

    Args:
        multiple_of: every batch must be a multiple of it (the replicas the global
            batch splits over); a batch that is not raises ``ValueError``.
    """

    def __init__(self, multiple_of: int = 1) -> None:
        self.multiple_of = check_int("multiple_of", multiple_of, positive=True)

    def change_points(self) -> list[tuple[int, int]]:
        """``[(examples, batch), ...]``: from ``examples`` on, the nominal batch is ``batch``.

        Strictly increasing in examples, the first at 0.
        """
        raise NotImplementedError

    def batch_at(self, examples_seen: int) -> int:
        """The global batch after ``examples_seen`` examples: at a step boundary, the
        batch of the step that starts there."""
        examples_seen = check_int("examples_seen", examples_seen)
        points = self.change_points()
        index = bisect.bisect_right([examples for examples, _ in points], examples_seen) - 1
        return points[index][1]

    def stages(self, total_examples: int) -> list[Stage]:
        """The run of ``total_examples`` examples as stages of constant batch.

        Consecutive stages have different batches; the last ends at the first step
        boundary at or after ``total_examples``.

        Raises:
            ValueError: ``total_examples`` is not a positive integer.
        """
        total = check_int("total_examples", total_examples, positive=True)
        points = self.change_points()
        stages: list[Stage] = []
        step = start = 0
        batch = points[0][1]
        while start < total:
            end = self._stage_end(points, start, batch, total)
            steps = (end - start) // batch
            stages.append(Stage(step, start, batch, steps))
            step, start = step + steps, end
            batch = self.batch_at(end)
        return stages

    def stage_at(self, examples_seen: int) -> Stage:
        """The stage of the step that holds example ``examples_seen`` (0-based): at a
        stage's ``first_example``, that stage. Its ``steps`` count up to that step."""
        examples_seen = check_int("examples_seen", examples_seen)
        return self.stages(examples_seen + 1)[-1]

    def _stage_end(self, points: list[tuple[int, int]], start: int, batch: int, total: int) -> int:
        """The first step boundary after ``start`` (steps of ``batch``) at which the batch
        changes, or the run's end."""
        run_end = start + _ceil_to(total - start, batch)
        first = bisect.bisect_right([examples for examples, _ in points], start)
        for examples, _ in points[first:]:
            boundary = start + _ceil_to(examples - start, batch)
            if boundary >= run_end:
                break
            if self.batch_at(boundary) != batch:
                return boundary
        return run_end

    def get_config(self) -> dict[str, Any]:
        return {"multiple_of": self.multiple_of}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> BatchSizeSchedule:
        return cls(**config)

    def __repr__(self) -> str:
        arguments = ", ".join(f"{key}={value!r}" for key, value in self.get_config().items())
        return f"{type(self).__name__}({arguments})"
