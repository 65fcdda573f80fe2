"""A learning-rate schedule keyed on examples seen, run on the steps of a batch-size schedule.

Keras calls a learning-rate schedule with the optimizer step. When the batch grows, a
schedule written in steps shifts against the data: a warmup of ``w`` steps planned at
the final batch ends after a fraction of the examples it should once the first steps are
smaller (Megatron-Bridge #2609 was this bug). :class:`ExamplesKeyed` instead holds a
schedule whose argument is the number of examples seen, and the stages of the batch
schedule (:class:`~lbkeras.schedules.batch_size.Stage`); at step ``s`` it works out
the examples ``e_s`` seen before ``s`` (``first_example + (s - first_step) x batch``
of the stage holding ``s``) and returns ``schedule(e_s) x factor(e_s)``. The factor
is piecewise constant in examples: the learning-rate transfer for the batch of each
stage (:func:`lbkeras.scaling.transfer_hyperparameters`), or Seesaw's
(:meth:`~lbkeras.schedules.batch_size.SeesawBatchSize.learning_rate_factor`). Being a
function of ``e_s`` at a step boundary, it changes at the same step as the batch (the
rule of :mod:`lbkeras.schedules.batch_size.base`). Past the last stage the examples go
on at its batch. Everything is a pure function of the step, so a resumed run gets the
same rates.

Example:
    >>> from lbkeras.schedules.batch_size import RampBatchSize
    >>> stages = RampBatchSize(100, 400, ramp_examples=300, doubling=True).stages(1500)
    >>> [(stage.first_step, stage.batch_size) for stage in stages]
    [(0, 100), (2, 200), (3, 400)]
    >>> per_example = keras.optimizers.schedules.PolynomialDecay(1.0, 1500, 0.0)
    >>> lr = ExamplesKeyed(per_example, stages, factors=[(0, 0.5), (200, 0.7), (400, 1.0)])
    >>> [round(float(lr(step)), 4) for step in range(5)]  # examples 0, 100, 200, 400, 800
    [0.5, 0.4667, 0.6067, 0.7333, 0.4667]
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import keras
from keras import ops

from lbkeras.schedules.batch_size.base import Stage


@keras.saving.register_keras_serializable(package="lbkeras")
class ExamplesKeyed(keras.optimizers.schedules.LearningRateSchedule):
    """``schedule(examples seen) x factor(examples seen)`` at each step of ``stages``.

    Args:
        schedule: a learning-rate schedule (or a float) whose argument is examples
            seen: e.g. the trainer's warmup and decay built with "steps" of one example.
        stages: the batch schedule's stages (``Stage`` or ``[first_step, first_example,
            batch_size, steps]``), in order from step 0.
        factors: ``[(examples, factor), ...]``: from ``examples`` on, the rate is
            multiplied by ``factor``; the first at 0.

    Raises:
        ValueError: no stages, stages that do not follow each other from step 0, or
            factors not starting at 0 in increasing order.
    """

    def __init__(
        self,
        schedule: keras.optimizers.schedules.LearningRateSchedule | float,
        stages: Sequence[Stage | Sequence[int]],
        factors: Sequence[Sequence[float]] = ((0, 1.0),),
    ) -> None:
        self.schedule = schedule
        self.stages = [Stage(*(int(value) for value in stage)) for stage in stages]
        self.factors = [(int(examples), float(factor)) for examples, factor in factors]
        if not self.stages or self.stages[0][:2] != (0, 0):
            raise ValueError("stages must start at step 0 and example 0")
        for before, after in zip(self.stages, self.stages[1:]):
            if (after.first_step, after.first_example) != (before.end_step, before.end_example):
                raise ValueError(f"stage {after} does not follow {before}")
        points = [examples for examples, _ in self.factors]
        if not points or points[0] != 0 or points != sorted(set(points)):
            raise ValueError(f"factors must start at 0 examples and increase, got {self.factors}")

    def examples_at(self, step: Any) -> Any:
        """Examples seen before ``step`` (a float tensor; exact below 2^24)."""
        step = ops.cast(step, "float32")
        first_steps = ops.convert_to_tensor([s.first_step for s in self.stages], "float32")
        index = ops.sum(ops.cast(first_steps <= step, "int32")) - 1
        first_step = ops.take(first_steps, index)
        first_example = ops.take(
            ops.convert_to_tensor([s.first_example for s in self.stages], "float32"), index
        )
        batch = ops.take(
            ops.convert_to_tensor([s.batch_size for s in self.stages], "float32"), index
        )
        return first_example + (step - first_step) * batch

    def factor_at(self, examples: Any) -> Any:
        """The factor in force after ``examples`` examples."""
        points = ops.convert_to_tensor([e for e, _ in self.factors], "float32")
        index = ops.sum(ops.cast(points <= examples, "int32")) - 1
        return ops.take(ops.convert_to_tensor([f for _, f in self.factors], "float32"), index)

    def __call__(self, step: Any) -> Any:
        examples = self.examples_at(step)
        rate = self.schedule(examples) if callable(self.schedule) else self.schedule
        return ops.cast(rate, "float32") * self.factor_at(examples)

    def get_config(self) -> dict[str, Any]:
        schedule = self.schedule
        if isinstance(schedule, keras.optimizers.schedules.LearningRateSchedule):
            schedule = keras.optimizers.schedules.serialize(schedule)
        return {
            "schedule": schedule,
            "stages": [list(stage) for stage in self.stages],
            "factors": [list(factor) for factor in self.factors],
        }

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> ExamplesKeyed:
        config = dict(config)
        if isinstance(config["schedule"], dict):
            config["schedule"] = keras.optimizers.schedules.deserialize(config["schedule"])
        return cls(**config)
