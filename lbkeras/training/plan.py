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
"""

from __future__ import annotations

import dataclasses
import math

from lbkeras.distribute.strategy import check_global_batch
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
            the tokens per example; 0 when the examples are not token sequences.
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

    @property
    def passes(self) -> float:
        """Passes over the training data the run makes."""
        return self.total_steps / self.steps_per_pass

    @property
    def total_tokens(self) -> int:
        """Tokens the run trains on (0 when the examples are not token sequences)."""
        return self.total_steps * self.tokens_per_step

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
    config: ExperimentConfig, num_train: int, num_replicas: int, tokens_per_example: int = 0
) -> Plan:
    """The plan of ``config`` on ``num_train`` training examples over ``num_replicas``.

    ``tokens_per_example``: tokens per example of a language model's data (the context;
    ``DatasetInfo.tokens_per_example``), 0 for data that are not token sequences.

    Raises:
        ValueError: the global batch does not split over the replicas (with the fix), or
            ``train_tokens`` for data that are not token sequences.
    """
    per_replica = check_global_batch(config.global_batch_size, num_replicas)
    effective = effective_batch_size(config)
    steps_per_pass = num_train / effective
    # AdaScale follows the base run's schedule (tau counts its steps) and takes at most as
    # many steps as it (every gain is >= 1).
    schedule_batch = config.base_batch_size if config.adascale else effective
    schedule_per_pass = num_train / schedule_batch
    if config.train_tokens and not tokens_per_example:
        raise ValueError(
            "train_tokens sets the length of a language model's training; this dataset's "
            "examples are not token sequences: use --epochs or --train_steps"
        )
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
