"""Worker: does a config's global batch fit, and how fast does it train?

``python -m lbkeras.tuning.probe CONFIG ANSWER`` (started by
:func:`lbkeras.tuning.process.run_config`; see there for the protocol and exit
statuses) builds the config's strategy, data, model and optimizer exactly as the
trainer does (:func:`lbkeras.training.experiment.prepare` and ``build``), then runs
``warmup_steps`` steps (tracing, compilation, the input pipeline filling up) and
``steps`` timed ones at the config's global batch with ``model.fit``. Its answer::

    {"global_batch_size": 256, "examples_per_second": 51234.5, "step_seconds": 0.005,
     "steps": 5, "num_train": 16000, "num_replicas": 1, "peak_virtual_bytes": ...}

``step_seconds`` is the median of the timed steps; ``examples_per_second`` is the
global batch times the timed steps over their total time. Each step ends with a host
synchronisation (the loss is read back), so a step's time is the whole step's. The
number of steps comes from ``probe.json`` beside CONFIG (:func:`write_probe_steps`;
defaults :data:`WARMUP_STEPS` and :data:`STEPS`). The config's ``model_dir`` is only
checked (as by the trainer): a probe writes nothing there.

Running out of memory is exit status 4 (``EXIT_OUT_OF_MEMORY``) or death by a signal:
TensorFlow reports a failed allocation as ``ResourceExhaustedError`` (a tensor's
buffer), as another ``OpError`` whose message names the allocation (this module turns
those into ``MemoryError``: see :func:`mentions_memory`), as ``MemoryError`` (NumPy,
Python), or aborts the process (``std::bad_alloc`` in C++ code: ``SIGABRT``); the
kernel's out-of-memory killer sends ``SIGKILL``. Bad input is exit status 2.

References:
    Godbole, Dahl, Gilmer, Shallue and Nado, "Deep Learning Tuning Playbook", 2023,
    section "Choosing the batch size": a few steps per trial suffice to find what fits
    and to measure the training throughput.

Example:
    >>> mentions_memory("OOM when allocating tensor with shape[4096,65536]")
    True
    >>> mentions_memory("Incompatible shapes: [32,10] vs. [32,5]")
    False
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import statistics
import sys
import time
from typing import Any

from lbkeras import atomic
from lbkeras.checks import check_int
from lbkeras.training.config import ExperimentConfig
from lbkeras.training.recipe import accumulation_steps

PROBE_FILE = "probe.json"
_M_ARENA_MAX = -8  # glibc's mallopt parameter
WARMUP_STEPS = 2
STEPS = 5

#: Phrases with which TensorFlow, Eigen, the C++ runtime and the kernel report a failed
#: allocation (case-insensitive).
_MEMORY_PATTERN = re.compile(
    r"\bOOM\b|out of memory|ResourceExhausted|bad_alloc|cannot allocate memory|"
    r"failed to allocate|unable to allocate|MemoryError",
    re.IGNORECASE,
)


def mentions_memory(message: str) -> bool:
    """Whether ``message`` (an error's or a process's stderr) reports a failed allocation."""
    return bool(_MEMORY_PATTERN.search(message))


def memory_summary(message: str) -> str:
    """The line of ``message`` that names the failed allocation (else its first line).

    Example:
        >>> memory_summary("ResourceExhaustedError: Graph execution error:\\n\\n"
        ...     "Detected at node MatMul\\nOOM when allocating tensor with shape[512,4]")
        'OOM when allocating tensor with shape[512,4]'
    """
    lines = [line.strip() for line in message.splitlines() if line.strip()] or [message]
    for line in lines:  # TensorFlow's words for a tensor's buffer, after the op's name
        if (start := line.find("OOM when allocating")) >= 0:
            return line[start:][:300]
    named = [line for line in lines if _MEMORY_PATTERN.search(line)]
    return (named or lines)[0][:300]


def write_probe_steps(work_dir: str, warmup_steps: int, steps: int) -> None:
    """Tells the probe started on ``work_dir`` how many warm-up and timed steps to run."""
    check_int("warmup_steps", warmup_steps, positive=True)
    check_int("steps", steps, positive=True)
    os.makedirs(work_dir, exist_ok=True)
    text = json.dumps({"warmup_steps": warmup_steps, "steps": steps})
    atomic.write_text(os.path.join(work_dir, PROBE_FILE), text)


def probe_config(
    config: ExperimentConfig, global_batch_size: int, fit_steps: int
) -> ExperimentConfig:
    """``config`` at ``global_batch_size``, cut to ``fit_steps`` micro-batches in one loop.

    Everything that decides the memory and speed of a step stays (model, optimizer and
    wrappers, accumulation, SAM, monitoring, precision, XLA, strategy); warmup, the
    evaluation and the backups, which only pace a long run, are turned off.
    """
    return config.replace(
        global_batch_size=global_batch_size,
        train_steps=-(-fit_steps // accumulation_steps(config)),
        warmup_epochs=0.0,
        decay_epochs=(),
        schedule="constant" if config.schedule == "step" else config.schedule,
        steps_per_loop=0,
        eval_every_loops=0,
        resume=False,
        verbose=0,
    )


def probe(
    config: ExperimentConfig, warmup_steps: int = WARMUP_STEPS, steps: int = STEPS
) -> dict[str, Any]:
    """Runs ``warmup_steps`` then ``steps`` timed training steps of ``config``; the answer.

    Raises:
        ValueError: a bad config (as :func:`lbkeras.training.prepare`).
        MemoryError: an allocation failed (any TensorFlow error that says so).
    """
    import keras
    import tensorflow as tf

    from lbkeras.training.experiment import build, prepare
    from lbkeras.training.precision import mixed_precision

    check_int("warmup_steps", warmup_steps, positive=True)  # the first step compiles
    check_int("steps", steps, positive=True)
    fit_steps = warmup_steps + steps
    config = probe_config(config, config.global_batch_size, fit_steps)
    prepared = prepare(config)
    timer = _step_timer(keras)
    try:
        with mixed_precision(config.mixed_precision):
            model, train_data, _ = build(prepared)
            model.fit(
                train_data,
                epochs=1,
                steps_per_epoch=prepared.plan.total_fit_steps,
                callbacks=[timer],
                shuffle=False,  # the stream is shuffled already
                verbose=0,
            )
    except tf.errors.OpError as error:
        if isinstance(error, tf.errors.ResourceExhaustedError) or mentions_memory(str(error)):
            raise MemoryError(memory_summary(f"{type(error).__name__}: {error}")) from error
        raise
    ends = timer.ends
    timed = [
        later - earlier for earlier, later in zip(ends[warmup_steps - 1 :], ends[warmup_steps:])
    ]
    seconds = ends[-1] - ends[warmup_steps - 1]
    return {
        "global_batch_size": config.global_batch_size,
        "examples_per_second": config.global_batch_size * len(timed) / seconds,
        "step_seconds": statistics.median(timed),
        "steps": len(timed),
        "warmup_steps": warmup_steps,
        "num_train": prepared.source.info.num_train,
        "num_replicas": prepared.plan.num_replicas,
        "peak_virtual_bytes": peak_virtual_bytes(),
    }


def peak_virtual_bytes() -> int | None:
    """This process's peak virtual memory (``VmPeak``, Linux), what ``RLIMIT_AS`` caps."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmPeak:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def _step_timer(keras: Any) -> Any:
    """A Keras callback that notes when every training step ends (host clock)."""

    class StepTimer(keras.callbacks.Callback):
        def __init__(self) -> None:
            super().__init__()
            self.ends: list[float] = []

        def on_train_batch_end(self, batch, logs=None):
            float((logs or {}).get("loss", 0.0))  # waits for the step to finish
            self.ends.append(time.perf_counter())

    return StepTimer()


def _few_malloc_arenas() -> None:
    """Caps glibc's malloc arenas at two, so that an address-space limit measures tensors.

    ``RLIMIT_AS`` counts reserved address space, and glibc reserves 64 MiB for each
    per-thread arena it creates (up to eight per core, as threads happen to contend):
    hundreds of MiB that vary from run to run and are never used. TensorFlow's large
    buffers do not come from the arenas, so the cap costs no speed. Every probe has it,
    limited or not, so that they all measure alike.
    """
    import ctypes

    with contextlib.suppress(OSError, AttributeError):  # not glibc: nothing to cap
        ctypes.CDLL(None).mallopt(_M_ARENA_MAX, 2)


def _job(config: ExperimentConfig) -> dict[str, Any]:
    settings = {}
    path = os.path.join(os.path.dirname(os.path.abspath(sys.argv[1])), PROBE_FILE)
    if os.path.exists(path):
        with open(path) as f:
            settings = json.load(f)
    return probe(config, **settings)


if __name__ == "__main__":
    _few_malloc_arenas()  # before TensorFlow starts its threads
    from lbkeras.tuning.process import worker_main

    worker_main(_job)
