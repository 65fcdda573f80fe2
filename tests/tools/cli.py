"""Runs ``tools/train.py`` in a real subprocess (tests only)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TRAIN = ["-m", "tools.train"]  # as a module: the tools import each other relatively

# A small, fast MNIST-1D run: 2,000 training examples, batch 250 -> 8 steps per epoch.
SMALL = [
    '--dataset_options={"num_train": 2000, "num_eval": 500}',
    "--global_batch_size=250",
    "--warmup_epochs=1",
    "--verbose=0",
]


def train_command(model_dir: str, data_dir: str, *flags: str) -> list[str]:
    return [
        sys.executable,
        *TRAIN,
        f"--model_dir={model_dir}",
        f"--data_dir={data_dir}",
        *SMALL,
        *flags,
    ]


def environment(**extra: str) -> dict[str, str]:
    env = dict(os.environ, PYTHONPATH=ROOT, TF_CPP_MIN_LOG_LEVEL="2", **extra)
    env.pop("TF_CONFIG", None)
    return env


def train(
    model_dir: str, data_dir: str, *flags: str, timeout: int = 600, **env: str
) -> subprocess.CompletedProcess:
    return subprocess.run(
        train_command(model_dir, data_dir, *flags),
        capture_output=True,
        text=True,
        timeout=timeout,
        env=environment(**env),
    )


def tool_in_process(module, program: str, *flags: str) -> int:
    """A tool's flag parsing and ``main`` in this process (as ``run_tool`` runs them): its
    exit status.

    The tool's flags are parsed afresh (and reset afterwards); output goes to this
    process's stdout and stderr (``capsys`` reads them).
    """
    from tools.common import parse_flags, tool_status

    module.FLAGS.unparse_flags()
    try:
        try:
            parse_flags(program, module.FLAGS, module.__doc__, [program, *flags])
        except SystemExit as exit:
            return int(exit.code)
        return tool_status(program, module.main)
    finally:
        module.FLAGS.unparse_flags()


def train_in_process(model_dir: str, data_dir: str, *flags: str) -> int:
    """``tools/train.py``'s flag parsing and ``main`` in this process: its exit status."""
    from tools import train as train_tool

    argv = train_command(model_dir, data_dir, *flags)[1 + len(TRAIN) :]
    return tool_in_process(train_tool, "lbkeras-train", *argv)


def results(model_dir: str) -> dict:
    with open(os.path.join(model_dir, "results.json")) as f:
        return json.load(f)


def free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports
