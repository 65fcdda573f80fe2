"""One experiment config run in a fresh Python process: the unit of every tuning tool.

The batch-size finder and the scaling study run each trial in a process of its own:
TensorFlow keeps the memory of a failed allocation (so a trial after an out-of-memory
error would see less than the first), a process can be given its own memory limit,
killed, or run beside others, and a crash in one trial leaves the search going.

A worker module (``lbkeras.tuning.trial`` trains, ``lbkeras.tuning.probe`` times a
few steps) is started as ``python -m MODULE CONFIG_JSON ANSWER_JSON``: it reads the
config, does its job and writes its answer (a JSON object) to ``ANSWER_JSON``
atomically; :func:`run_config` returns that answer with the exit status. An answer
file is never half-written, so a process killed at any point has no answer.

Example:
    >>> import tempfile
    >>> from lbkeras.training import ExperimentConfig
    >>> config = ExperimentConfig(model="no-such-model", model_dir=tempfile.mkdtemp())
    >>> outcome = run_config("lbkeras.tuning.trial", config, tempfile.mkdtemp())
    >>> outcome.returncode, outcome.answer
    (2, None)
    >>> outcome.message().startswith("unknown model 'no-such-model'; choose one of: mlp,")
    True
"""

from __future__ import annotations

import dataclasses
import json
import os
import resource
import subprocess
import sys
from collections.abc import Callable
from typing import Any

from lbkeras import atomic
from lbkeras.training.config import ExperimentConfig

#: Exit status of a worker given a config it cannot run (the trainer's, too).
EXIT_BAD_INPUT = 2
#: Exit status of a worker whose training loss became NaN or infinite.
EXIT_NON_FINITE = 3
#: Exit status of a worker that ran out of memory.
EXIT_OUT_OF_MEMORY = 4

CONFIG_FILE = "config_in.json"
ANSWER_FILE = "answer.json"


@dataclasses.dataclass(frozen=True)
class Outcome:
    """How a worker process ended: its exit status, answer (None if it wrote none) and
    the end of its stderr."""

    returncode: int
    answer: dict[str, Any] | None
    stderr: str

    @property
    def killed(self) -> bool:
        """Ended by a signal (e.g. SIGKILL from the kernel's out-of-memory killer)."""
        return self.returncode < 0

    def message(self) -> str:
        """The worker's last line of stderr: its one-line error."""
        lines = [line for line in self.stderr.strip().splitlines() if line.strip()]
        return lines[-1] if lines else f"exit status {self.returncode}"


def run_config(
    module: str,
    config: ExperimentConfig,
    work_dir: str,
    *,
    address_space_bytes: int | None = None,
    timeout: float | None = None,
) -> Outcome:
    """Runs worker ``module`` on ``config`` in a new Python process and waits for it.

    Args:
        module: the worker, run as ``python -m module``.
        config: what it runs.
        work_dir: a folder for the config and answer files (created if missing).
        address_space_bytes: a limit on the process's virtual memory (``RLIMIT_AS``,
            Linux): allocations beyond it fail as out-of-memory.
        timeout: seconds before the process is killed (``subprocess.TimeoutExpired``).
    """
    os.makedirs(work_dir, exist_ok=True)
    config_path = os.path.join(work_dir, CONFIG_FILE)
    answer_path = os.path.join(work_dir, ANSWER_FILE)
    atomic.write_text(config_path, config.to_json())
    if os.path.exists(answer_path):
        os.remove(answer_path)
    completed = subprocess.run(
        [sys.executable, "-m", module, config_path, answer_path],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=_environment(),
        preexec_fn=_limit_address_space(address_space_bytes),
    )
    answer = None
    if os.path.exists(answer_path):
        with open(answer_path) as f:
            answer = json.load(f)
    return Outcome(completed.returncode, answer, completed.stderr[-20_000:])


def worker_main(job: Callable[[ExperimentConfig], dict[str, Any]]) -> None:
    """The ``__main__`` of a worker module: ``job(config)`` with its answer written, and
    bad input, a NaN loss or an out-of-memory error turned into their exit statuses."""
    import tensorflow as tf

    from lbkeras.callbacks import NonFiniteLossError

    config_path, answer_path = sys.argv[1], sys.argv[2]
    try:
        with open(config_path) as f:
            config = ExperimentConfig.from_json(f.read())
        answer = job(config)
    except (ValueError, TypeError, FileNotFoundError) as error:
        print(f"{error}", file=sys.stderr)
        sys.exit(EXIT_BAD_INPUT)
    except NonFiniteLossError as error:
        print(f"{error}", file=sys.stderr)
        sys.exit(EXIT_NON_FINITE)
    except (tf.errors.ResourceExhaustedError, MemoryError) as error:
        print(f"out of memory: {type(error).__name__}: {str(error)[:500]}", file=sys.stderr)
        sys.exit(EXIT_OUT_OF_MEMORY)
    atomic.write_text(answer_path, json.dumps(answer, indent=2, sort_keys=True))


def _environment() -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    env.pop("TF_CONFIG", None)  # a trial is one process, never a worker of the caller's cluster
    # The worker imports lbkeras from where this process did (a checkout or site-packages).
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
    return env


def _limit_address_space(limit: int | None) -> Callable[[], None] | None:
    if limit is None:
        return None

    def apply() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))

    return apply
