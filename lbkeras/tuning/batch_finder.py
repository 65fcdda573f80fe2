"""The batch-size finder: the largest global batch that fits, and where throughput stops rising.

:func:`find_batch_size` tries global batches of a config, each in a fresh process (the
:mod:`lbkeras.tuning.probe` worker: a few warm-up steps, then a few timed ones), and
answers two questions:

* What fits? Powers of two from ``start`` (doubling) until a size does not fit or
  ``max_batch_size`` is reached, then bisection between the largest size that fit and
  the smallest that did not, down to ``multiple_of`` (and the replica count: every size
  tried is a multiple of both). The *recommended maximum* keeps a safety margin: the
  largest tried size that fit and is at most ``(1 - margin)`` times the largest that
  fit. A failed trial can leave an allocator fragmented and memory use varies from run
  to run, so a size at the very edge may fail in a long run. With no failure (every
  size fit up to ``max_batch_size``) the limit was not reached, and the recommended
  maximum is the largest size tried.
* Which batch pays? Examples per second for every size that fit. The *chosen* size is
  the smallest tried size, up to the recommended maximum, whose throughput is within
  ``throughput_tolerance`` (10%) of the best of them: past it, larger batches cost
  steps' worth of generalisation and tuning without training faster.

Only sizes that were tried are ever reported. A size does not fit when its probe runs
out of memory (exit status 4, or killed by a signal with a failed allocation in its
log; see :func:`classify`) or runs past ``timeout``; any other failure (a bad config)
stops the search with the probe's message (``ValueError`` for bad input,
:class:`ProbeError` for a crash). A batch larger than the training set is never tried:
the search caps ``max_batch_size`` at the number of training examples (the data layer
refuses larger batches), and says so in ``capped_at``.

``memory_limit_mb`` gives each probe an address-space limit (Linux ``RLIMIT_AS``),
to find what fits in less host memory than the machine has (it caps virtual memory,
so it is meant for CPU runs: a GPU runtime reserves far more address space than it
uses). On an accelerator the device's own memory is the limit.

Outputs in ``output_dir`` (:mod:`lbkeras.tuning.batch_report`): ``batch_find.json``,
``batch_find.csv``, ``batch_find.png`` and ``trials/SIZE/`` (each probe's config,
answer and stderr).

References:
    Godbole, Dahl, Gilmer, Shallue and Nado, "Deep Learning Tuning Playbook", 2023,
    "Choosing the batch size": the largest batch the hardware supports, found by
    powers of two, and the training throughput per batch size; where it stops rising
    (a bottleneck), a larger batch does not pay.

Example (the search on a known limit: sizes up to 700 fit):
    >>> tried = search_sizes(lambda size: size <= 700, start=64, maximum=4096, granularity=64)
    >>> [(size, fits) for size, fits in tried]  # doctest: +NORMALIZE_WHITESPACE
    [(64, True), (128, True), (256, True), (512, True), (1024, False), (768, False),
     (640, True), (704, False)]
"""

from __future__ import annotations

import dataclasses
import logging
import math
import os
import re
import shutil
import signal
import subprocess
import time
from collections.abc import Callable
from typing import Any

from lbkeras.checks import check_float, check_fraction, check_int
from lbkeras.training.config import ExperimentConfig, setting
from lbkeras.tuning import batch_report
from lbkeras.tuning import probe as probe_worker
from lbkeras.tuning.process import EXIT_BAD_INPUT, EXIT_OUT_OF_MEMORY, Outcome, run_config

FITS, OUT_OF_MEMORY, TIMEOUT = "fits", "out_of_memory", "timeout"
TRIALS_DIR = "trials"

#: TensorFlow's (absl's) log prefix of informational and warning lines.
_INFO_OR_WARNING = re.compile(r"^[IW]\d{4} [\d:.]+\s+\d+ ")
#: How a process under RLIMIT_AS fails to start a thread or map a library.
_ADDRESS_SPACE_FAILURES = re.compile(
    r"pthread_create\(\) failed|failed to map segment|Resource temporarily unavailable"
)


@dataclasses.dataclass(frozen=True)
class BatchSearchSettings:
    """How :func:`find_batch_size` searches (each field is a flag of lbkeras-batch-find)."""

    start: int = setting(64, "First global batch tried; the search doubles it.")
    max_batch_size: int = setting(65536, "Largest global batch tried.")
    multiple_of: int = setting(
        8, "Every size tried is a multiple of this (and of the replicas): the bisection's step."
    )
    steps: int = setting(5, "Timed training steps per size.")
    warmup_steps: int = setting(2, "Untimed steps before them (tracing, compilation).")
    margin: float = setting(
        0.1,
        "Safety margin, once a size did not fit: the recommended maximum is then the "
        "largest size tried that fit and is at most (1 - margin) times the largest that fit "
        "(with no failure, the largest size tried: memory was not the limit).",
    )
    throughput_tolerance: float = setting(
        0.1,
        "The chosen batch is the smallest whose examples/s is within this fraction of the best.",
    )
    memory_limit_mb: int = setting(
        0, "Address-space limit of each probe in MiB (Linux RLIMIT_AS, CPU runs); 0: none."
    )
    timeout: float = setting(
        600.0, "Seconds before a probe is killed (the size then counts as not fitting); 0: none."
    )

    def __post_init__(self) -> None:
        for name in ("start", "max_batch_size", "multiple_of", "steps", "warmup_steps"):
            check_int(name, getattr(self, name), positive=True)
        check_int("memory_limit_mb", self.memory_limit_mb)
        check_fraction("margin", self.margin)
        check_fraction("throughput_tolerance", self.throughput_tolerance)
        check_float("timeout", self.timeout)
        if self.start > self.max_batch_size:
            raise ValueError(
                f"start {self.start} is larger than max_batch_size {self.max_batch_size}: "
                "lower --start or raise --max_batch_size"
            )
        if self.start % self.multiple_of:
            raise ValueError(
                f"start {self.start} is not a multiple of multiple_of {self.multiple_of}: "
                "choose --start as one, so that every doubling is one too"
            )


@dataclasses.dataclass(frozen=True)
class Trial:
    """One size tried: ``status`` is "fits", "out_of_memory" or "timeout"; the speed is
    NaN unless it fits."""

    global_batch_size: int
    status: str
    examples_per_second: float = math.nan
    step_seconds: float = math.nan
    seconds: float = math.nan
    message: str = ""

    @property
    def fits(self) -> bool:
        return self.status == FITS


@dataclasses.dataclass(frozen=True)
class BatchSearch:
    """What :func:`find_batch_size` found; every size in it was tried.

    Attributes:
        trials: every size tried, in the order tried.
        largest_fitting: the largest size that fit (None: not even ``start``).
        recommended_max: the largest to use, after the safety margin.
        chosen: the smallest size near the best throughput (see the module docstring).
        granularity: the step of the bisection (``multiple_of`` and the replicas).
        capped_at: the training-set size, if it bounded the search (at most ``max_batch_size``).
    """

    settings: BatchSearchSettings
    config: ExperimentConfig
    trials: list[Trial]
    largest_fitting: int | None
    recommended_max: int | None
    chosen: int | None
    granularity: int
    capped_at: int | None = None


class ProbeError(RuntimeError):
    """A probe failed for a reason other than memory or bad input (it crashed)."""


def search_sizes(
    fits: Callable[[int], bool], start: int, maximum: int, granularity: int
) -> list[tuple[int, bool]]:
    """The sizes tried, in order, with whether each fit: doubling, then bisection.

    Doubling from ``start`` until a size does not fit or ``maximum`` is reached (the
    last doubling is cut to ``maximum``, rounded down to ``granularity``), then
    bisection between the largest fitting and the smallest failing size, each midpoint
    rounded down to ``granularity``, until they are ``granularity`` apart. ``fits`` is
    called once per size, and every size is a multiple of ``granularity`` if ``start``
    is.
    """
    maximum = max(start, maximum // granularity * granularity)
    tried: list[tuple[int, bool]] = []

    def attempt(size: int) -> bool:
        tried.append((size, bool(fits(size))))
        return tried[-1][1]

    size, largest, smallest_failing = start, None, None
    while True:
        if not attempt(size):
            smallest_failing = size
            break
        largest = size
        if size >= maximum:
            break
        size = min(2 * size, maximum)
    if largest is None or smallest_failing is None:
        return tried
    low, high = largest, smallest_failing
    while (middle := (low + high) // 2 // granularity * granularity) > low:
        if attempt(middle):
            low = middle
        else:
            high = middle
    return tried


def choose(
    trials: list[Trial], margin: float, tolerance: float
) -> tuple[int | None, int | None, int | None]:
    """``(largest_fitting, recommended_max, chosen)`` of ``trials`` (see the module docstring).

    Sizes that fit are the candidates. When some size failed, the recommended maximum
    is the largest candidate at most ``(1 - margin)`` times the largest fitting one
    (the smallest candidate if none is that small); when none failed, the largest
    candidate. The chosen size is the smallest candidate up to the recommended maximum
    whose examples/s is at least ``(1 - tolerance)`` times the best of them.
    """
    fitting = sorted((t for t in trials if t.fits), key=lambda t: t.global_batch_size)
    if not fitting:
        return None, None, None
    largest = fitting[-1].global_batch_size
    if any(not t.fits for t in trials):
        bound = (1 - margin) * largest
        recommended = max(
            (t.global_batch_size for t in fitting if t.global_batch_size <= bound),
            default=fitting[0].global_batch_size,
        )
    else:
        recommended = largest
    candidates = [t for t in fitting if t.global_batch_size <= recommended]
    measured = [t for t in candidates if math.isfinite(t.examples_per_second)]
    if not measured:
        return largest, recommended, recommended
    best = max(t.examples_per_second for t in measured)
    chosen = min(
        t.global_batch_size for t in measured if t.examples_per_second >= (1 - tolerance) * best
    )
    return largest, recommended, chosen


def find_batch_size(
    config: ExperimentConfig,
    settings: BatchSearchSettings,
    output_dir: str,
    on_trial: Callable[[Trial], None] | None = None,
) -> BatchSearch:
    """Searches the global batches of ``config``; writes and returns the answer.

    Args:
        config: the experiment; its ``global_batch_size`` and ``model_dir`` are not used.
        settings: how to search.
        output_dir: where the report and the trials' scratch folders go.
        on_trial: called with every trial as it finishes; by default each is logged
            (:func:`lbkeras.tuning.batch_report.describe`).

    Raises:
        ValueError: a bad config (the probe's message): nothing is left in ``output_dir``.
        ProbeError: a probe crashed for a reason other than memory.
    """
    trials_dir = os.path.join(output_dir, TRIALS_DIR)
    shutil.rmtree(trials_dir, ignore_errors=True)  # the last search's scratch
    created = [path for path in (output_dir, trials_dir) if not os.path.exists(path)]
    trials: list[Trial] = []
    facts: dict[str, int] = {}

    def fits(size: int) -> bool:
        trial, answer = run_probe(config, size, settings, os.path.join(trials_dir, str(size)))
        trials.append(trial)
        facts.update(
            {k: answer[k] for k in ("num_train", "num_replicas") if answer and k in answer}
        )
        if on_trial is not None:
            on_trial(trial)
        else:
            logging.info("%s", batch_report.describe(trial))
        return trial.fits

    try:
        maximum, granularity = settings.max_batch_size, settings.multiple_of
        if fits(settings.start):  # what the data and strategy allow, known from now on
            granularity = math.lcm(granularity, facts.get("num_replicas", 1))
            maximum = min(maximum, facts.get("num_train", maximum))
        first = trials[0]
        tried = search_sizes(
            lambda size: first.fits if size == settings.start else fits(size),
            settings.start,
            maximum,
            granularity,
        )
    except BaseException:
        for path in reversed(created):
            shutil.rmtree(path, ignore_errors=True)
        raise
    assert [size for size, _ in tried] == [t.global_batch_size for t in trials]
    largest, recommended, chosen = choose(trials, settings.margin, settings.throughput_tolerance)
    capped = facts.get("num_train")
    search = BatchSearch(
        settings=settings,
        config=config,
        trials=trials,
        largest_fitting=largest,
        recommended_max=recommended,
        chosen=chosen,
        granularity=granularity,
        capped_at=capped if capped is not None and capped <= settings.max_batch_size else None,
    )
    batch_report.write(search, output_dir)
    return search


def run_probe(
    config: ExperimentConfig, size: int, settings: BatchSearchSettings, work_dir: str
) -> tuple[Trial, dict[str, Any] | None]:
    """Probes ``config`` at global batch ``size`` in a fresh process; the trial and answer."""
    probe_worker.write_probe_steps(work_dir, settings.warmup_steps, settings.steps)
    fit_steps = settings.warmup_steps + settings.steps
    probe = probe_worker.probe_config(config, size, fit_steps)
    probe = probe.replace(model_dir=os.path.join(work_dir, "model"))
    limit = settings.memory_limit_mb * 2**20 or None
    began = time.perf_counter()
    try:
        outcome = run_config(
            "lbkeras.tuning.probe",
            probe,
            work_dir,
            address_space_bytes=limit,
            timeout=settings.timeout or None,
        )
    except subprocess.TimeoutExpired:
        message = f"ran past the timeout of {settings.timeout:g} s"
        return Trial(size, TIMEOUT, seconds=time.perf_counter() - began, message=message), None
    seconds = time.perf_counter() - began
    with open(os.path.join(work_dir, "stderr.txt"), "w") as f:
        f.write(outcome.stderr)
    status = classify(outcome, memory_limited=limit is not None)
    if status == FITS:
        answer = outcome.answer
        return (
            Trial(
                size,
                FITS,
                examples_per_second=float(answer["examples_per_second"]),
                step_seconds=float(answer["step_seconds"]),
                seconds=seconds,
            ),
            answer,
        )
    return Trial(size, status, seconds=seconds, message=_memory_message(outcome)), None


def classify(outcome: Outcome, memory_limited: bool) -> str:
    """ "fits" or "out_of_memory" for a probe's outcome; raises for any other failure.

    Out of memory: exit status 4; a signal (``SIGKILL``: the kernel's out-of-memory
    killer; any other, e.g. ``SIGABRT`` from ``std::bad_alloc``) with a failed
    allocation in the log; or an uncaught error whose log reports one. Under an
    address-space limit a thread or library that cannot be mapped counts too.
    TensorFlow's informational and warning lines are not read: a warning such as
    "Allocation of N exceeds 10% of free system memory" is no failure.

    Raises:
        ValueError: bad input (exit status 2), with the probe's message.
        ProbeError: any other failure, with the probe's message.
    """
    if outcome.returncode == 0 and outcome.answer is not None:
        return FITS
    if outcome.returncode == EXIT_OUT_OF_MEMORY:
        return OUT_OF_MEMORY
    if outcome.returncode == EXIT_BAD_INPUT:
        raise ValueError(outcome.message())
    log = _errors_only(outcome.stderr)
    memory = probe_worker.mentions_memory(log) or (
        memory_limited and _ADDRESS_SPACE_FAILURES.search(log) is not None
    )
    if outcome.returncode == -signal.SIGKILL or memory:
        return OUT_OF_MEMORY
    how = (
        f"killed by {signal.Signals(-outcome.returncode).name}"
        if outcome.killed
        else f"exit status {outcome.returncode}"
    )
    raise ProbeError(f"probe failed ({how}): {outcome.message()}")


def _memory_message(outcome: Outcome) -> str:
    lines = [line for line in _errors_only(outcome.stderr).splitlines() if line.strip()]
    hits = [line for line in lines if probe_worker.mentions_memory(line)]
    return (hits or lines or [f"exit status {outcome.returncode}"])[-1].strip()[:300]


def _errors_only(stderr: str) -> str:
    return "\n".join(line for line in stderr.splitlines() if not _INFO_OR_WARNING.match(line))
