"""The step arithmetic of a run: how many steps, in how many Keras epochs, on how many replicas.

Every step and batch number of a run (and the learning rates they give) is worked out
here, once, from the config: the trainer, the dry run and the reports read the
:class:`Plan` instead of recomputing them.

Epochs are passes over the data: ``epochs=E`` trains ``round(E * N / B)`` optimizer
steps for ``N`` training examples and an effective batch ``B`` (the global batch times
the accumulation steps), and the input runs on across passes
(:mod:`lbkeras.data.stream`), so no example is left out because ``B`` does not divide
``N``. Keras epochs ("loops") are only the period of evaluation, summaries and backups:
``steps_per_loop`` steps each (by default about one pass, ``round(N / B)``), the last
one shorter when the total is not a multiple.

For language models an example is a sequence of ``context`` tokens, and a step trains
on ``tokens_per_step = B x context`` tokens; ``train_tokens=T`` then trains
``round(T / tokens_per_step)`` steps.

Under a batch-size schedule (``--batch_schedule``, :mod:`lbkeras.training.batch_schedule`)
the run is ``E x N`` examples (or ``T / context`` sequences), the steps are the
schedule's stages over them (the last step ends at or after the total), and the
learning rate is keyed on examples; ``global_batch_size`` is the largest batch. The
plan's :attr:`Plan.stages` say the batch of every step; without a schedule they are one
stage.

Example:
    >>> p = plan(ExperimentConfig(global_batch_size=8192, epochs=30), 16_000, num_replicas=2)
    >>> p.total_steps, p.steps_per_loop, p.loops, p.per_replica_batch_size
    (59, 2, 30, 4096)
    >>> round(p.passes, 3)
    30.208
    >>> p.effective_batch_size, p.warmup_steps, p.peak_learning_rate  # LARS, linear rule
    (8192, 10, 32.0)
    >>> lm = plan(ExperimentConfig(global_batch_size=64, train_tokens=10**6), 80_000,
    ...           num_replicas=1, tokens_per_example=128)
    >>> lm.tokens_per_step, lm.total_steps, lm.total_tokens
    (8192, 122, 999424)
    >>> ramp = plan(ExperimentConfig(global_batch_size=8192, epochs=30, batch_schedule="ramp",
    ...     batch_schedule_options={"start_batch_size": 2048, "ramp_examples": 160_000,
    ...     "doubling": True}), 16_000, num_replicas=2)
    >>> [(stage.batch_size, stage.steps) for stage in ramp.stages], ramp.total_steps
    ([(2048, 40), (4096, 20), (8192, 39)], 99)
    >>> ramp.examples_before(41), ramp.warmup_steps, ramp.steps_per_loop  # 5 passes of warmup
    (86016, 40, 3)
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

from lbkeras.distribute.strategy import check_global_batch
from lbkeras.schedules.batch_size.adaptive import AdaptiveBatchSize
from lbkeras.schedules.batch_size.base import BatchSizeSchedule, Stage, examples_before, stage_index
from lbkeras.training import batch_schedule
from lbkeras.training.config import ExperimentConfig
from lbkeras.training.recipe import (
    accumulation_steps,
    base_learning_rate,
    effective_batch_size,
    peak_learning_rate,
    warmup_steps,
)


@dataclasses.dataclass(frozen=True)
class Plan:
    """The step arithmetic of a run; steps count optimizer updates unless said.

    Attributes:
        num_replicas: replicas in sync (over all workers).
        per_replica_batch_size: examples per replica and ``fit`` step.
        accumulation_steps: ``fit`` steps (micro-batches) per optimizer update.
        effective_batch_size: examples per optimizer update, the global batch times
            ``accumulation_steps``.
        steps_per_pass: optimizer updates per pass over the training data, ``N / B``.
        total_steps: optimizer updates of the whole run.
        steps_per_loop: optimizer updates per Keras epoch (the last may have fewer).
        loops: Keras epochs.
        warmup_steps: optimizer updates of warmup.
        schedule_steps: the length of the learning-rate schedule: ``total_steps``, or with
            AdaScale the base run's (at ``base_batch_size``), which ``tau`` counts.
        schedule_steps_per_pass: the schedule's steps per pass over the data.
        base_learning_rate: the learning rate at ``base_batch_size`` (the config's, or
            the optimizer's default scaled to it).
        peak_learning_rate: the schedule's peak: ``base_learning_rate`` scaled to
            ``effective_batch_size`` (with AdaScale, unscaled: the gain scales each step).
        tokens_per_step: tokens (labels) per optimizer update, the effective batch times
            the tokens per example; 0 when the examples are not token sequences. Under
            a batch schedule, at the largest batch.
        num_train: training examples of one pass.
        stages: the steps at each batch (optimizer updates and effective batches): the
            batch schedule's, or one stage.
        tokens_per_example: tokens of one example (0: not token sequences).
    """

    num_replicas: int
    per_replica_batch_size: int
    accumulation_steps: int
    effective_batch_size: int
    steps_per_pass: float
    total_steps: int
    steps_per_loop: int
    loops: int
    warmup_steps: int
    schedule_steps: int
    schedule_steps_per_pass: float
    base_learning_rate: float
    peak_learning_rate: float
    tokens_per_step: int = 0
    num_train: int = 0
    stages: tuple[Stage, ...] = ()
    tokens_per_example: int = 0
    #: The run's batch-size schedule (None: one batch).
    batch_size_schedule: BatchSizeSchedule | None = dataclasses.field(default=None, compare=False)

    @property
    def passes(self) -> float:
        """Passes over the training data the run makes."""
        return self.examples_before(self.total_steps) / self.num_train

    @property
    def total_tokens(self) -> int:
        """Tokens the run trains on (0 when the examples are not token sequences)."""
        return self.examples_before(self.total_steps) * self.tokens_per_example

    @property
    def scheduled(self) -> bool:
        """Whether the batch changes during the run."""
        return len(self.stages) > 1

    def stage_at(self, step: int) -> Stage:
        """The stage of optimizer step ``step`` (the last stage for a step past the end)."""
        return self.stages[stage_index(self.stages, step)]

    def examples_before(self, step: int) -> int:
        """Examples trained on before optimizer step ``step``."""
        return examples_before(self.stages, step)

    @property
    def input_stages(self) -> tuple[Stage, ...]:
        """The stages in ``fit`` steps (micro-batches of the global batch): :attr:`stages`,
        or with gradient accumulation (one batch only) one stage of micro-batches."""
        if self.accumulation_steps == 1:
            return self.stages
        batch = self.effective_batch_size // self.accumulation_steps
        return (Stage(0, 0, batch, self.total_fit_steps),)

    @property
    def fit_steps_per_loop(self) -> int:
        """``fit``'s ``steps_per_epoch``: micro-batches per Keras epoch."""
        return self.steps_per_loop * self.accumulation_steps

    @property
    def total_fit_steps(self) -> int:
        """Micro-batches of the whole run (global batches read from the input)."""
        return self.total_steps * self.accumulation_steps

    def loop_start(self, loop: int) -> int:
        """The optimizer step at which Keras epoch ``loop`` (0-based) starts; at
        ``loop == loops`` (a finished run), ``total_steps``."""
        return min(loop * self.steps_per_loop, self.total_steps)

    def loop_end(self, loop: int) -> int:
        """The optimizer step at which Keras epoch ``loop`` (0-based) ends."""
        return self.loop_start(loop + 1)

    def fit_steps_before(self, loop: int) -> int:
        """Micro-batches read before Keras epoch ``loop`` starts: where the input of a
        run resumed at ``loop`` continues."""
        return self.loop_start(loop) * self.accumulation_steps


def plan(
    config: ExperimentConfig,
    num_train: int,
    num_replicas: int,
    tokens_per_example: int = 0,
    batch_schedule_state: dict[str, Any] | None = None,
) -> Plan:
    """The plan of ``config`` on ``num_train`` training examples over ``num_replicas``.

    ``tokens_per_example``: tokens per example of a language model's data (the context;
    ``DatasetInfo.tokens_per_example``), 0 for data that are not token sequences.
    ``batch_schedule_state``: an adaptive batch schedule's decisions so far (kept with a
    backup); its stages go on at the current batch to the end until it decides again.

    Raises:
        ValueError: the global batch does not split over the replicas (with the fix), or
            ``train_tokens`` for data that are not token sequences.
    """
    per_replica = check_global_batch(config.global_batch_size, num_replicas)
    if config.train_tokens and not tokens_per_example:
        raise ValueError(
            "train_tokens sets the length of a language model's training; this dataset's "
            "examples are not token sequences: use --epochs or --train_steps"
        )
    if batch_schedule.scheduled(config):
        return _scheduled_plan(
            config, num_train, num_replicas, tokens_per_example, batch_schedule_state
        )
    effective = effective_batch_size(config)
    steps_per_pass = num_train / effective
    # AdaScale follows the base run's schedule (tau counts its steps) and takes at most as
    # many steps as it (every gain is >= 1).
    schedule_batch = config.base_batch_size if config.adascale else effective
    schedule_per_pass = num_train / schedule_batch
    total = config.train_steps or max(
        1,
        round(config.train_tokens / (schedule_batch * tokens_per_example))
        if config.train_tokens
        else round(config.epochs * schedule_per_pass),
    )
    per_loop = min(config.steps_per_loop or max(1, round(steps_per_pass)), total)
    return Plan(
        num_replicas=num_replicas,
        per_replica_batch_size=per_replica,
        accumulation_steps=accumulation_steps(config),
        effective_batch_size=effective,
        steps_per_pass=steps_per_pass,
        total_steps=total,
        steps_per_loop=per_loop,
        loops=math.ceil(total / per_loop),
        warmup_steps=warmup_steps(config, schedule_per_pass),
        schedule_steps=total,
        schedule_steps_per_pass=schedule_per_pass,
        base_learning_rate=base_learning_rate(config),
        peak_learning_rate=peak_learning_rate(config),
        tokens_per_step=effective * tokens_per_example,
        num_train=num_train,
        stages=(Stage(0, 0, effective, total),),
        tokens_per_example=tokens_per_example,
    )


def total_examples(config: ExperimentConfig, num_train: int, tokens_per_example: int) -> int:
    """The examples a run under a batch schedule is long: ``train_tokens / context`` for a
    language model given tokens, else ``epochs x num_train`` (rounded, at least 1)."""
    if config.train_tokens:
        return max(1, round(config.train_tokens / tokens_per_example))
    return max(1, round(config.epochs * num_train))


def _scheduled_plan(
    config: ExperimentConfig,
    num_train: int,
    num_replicas: int,
    tokens_per_example: int,
    state: dict[str, Any] | None,
) -> Plan:
    """The plan of a run whose batch follows ``config.batch_schedule``: its stages over
    :func:`total_examples`; loops of about a pass (the run's steps over its passes; for an
    adaptive schedule, whose later stages are not known yet, a pass at its first batch)."""
    schedule = batch_schedule.build_batch_schedule(config, num_train, num_replicas, state)
    examples = total_examples(config, num_train, tokens_per_example)
    stages = tuple(schedule.stages(examples))
    total = stages[-1].end_step
    passes = stages[-1].end_example / num_train
    if isinstance(schedule, AdaptiveBatchSize):  # the same in every plan of the run
        per_loop = config.steps_per_loop or max(1, round(num_train / schedule.batch_size))
    else:
        per_loop = min(config.steps_per_loop or max(1, round(total / passes)), total)
    warmup_examples = warmup_steps(config, num_train)
    warmup = next(
        (
            s.first_step + -(-(warmup_examples - s.first_example) // s.batch_size)
            for s in stages
            if warmup_examples < s.end_example
        ),
        total,
    )
    largest = config.global_batch_size
    return Plan(
        num_replicas=num_replicas,
        per_replica_batch_size=largest // num_replicas,
        accumulation_steps=1,
        effective_batch_size=largest,
        steps_per_pass=num_train / largest,
        total_steps=total,
        steps_per_loop=per_loop,
        loops=math.ceil(total / per_loop),
        warmup_steps=warmup,
        schedule_steps=total,
        schedule_steps_per_pass=num_train / largest,
        base_learning_rate=base_learning_rate(config),
        peak_learning_rate=peak_learning_rate(config),
        tokens_per_step=largest * tokens_per_example,
        num_train=num_train,
        stages=stages,
        tokens_per_example=tokens_per_example,
        batch_size_schedule=schedule,
    )


def eval_batch_size(num_examples: int, batch_size: int, replicas: int) -> int:
    """The largest eval batch up to ``batch_size`` that gives each of ``replicas`` the same
    number of batches from one pipeline of ``num_examples`` (none of them empty).

    One input pipeline deals its batches to its replicas in turn; when their number is not a
    multiple of the replicas, the last round leaves a replica an empty batch, on which
    TensorFlow's CPU convolution returns a wrongly shaped tensor (batch norm after it then
    fails: "Incompatible shapes: [64] vs. [0,40,32]"). Evaluation is a mean over examples, so a
    smaller batch changes nothing else. Where no batch splits evenly (a few examples over
    several replicas), ``batch_size``.

    Example:
        >>> eval_batch_size(500, 2048, 2), eval_batch_size(4000, 1024, 2)
        (499, 1024)
    """
    if replicas <= 1:
        return batch_size
    for candidate in range(batch_size, 0, -1):
        if math.ceil(num_examples / candidate) % replicas == 0:
            return candidate
    return batch_size
