"""What every lbkeras console script shares: the experiment flags, one-line errors.

Every setting of :class:`lbkeras.training.ExperimentConfig` is a flag of the same name
(defined here once, so that several tools can live in one process), on top of
``--config`` (a run's ``config.json``). Bad input prints one line ``PROGRAM: error:
...`` on stderr and the tool exits with status 2.
"""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Callable

from absl import flags

from lbkeras.training.config_flags import ExperimentConfig, config_from_flags, define_flags

FLAGS = flags.FLAGS
define_flags(ExperimentConfig, FLAGS)
flags.DEFINE_string(
    "config",
    "",
    "A run's config.json to start from (flags given beside it override its settings).",
)

EXIT_BAD_INPUT = 2


def experiment_config() -> ExperimentConfig:
    """The flags as an ExperimentConfig (validated), on top of ``--config`` if given; a
    temporary ``model_dir`` if none is given."""
    base = None
    if FLAGS.config:
        try:
            with open(FLAGS.config) as f:
                base = ExperimentConfig.from_json(f.read())
        except (OSError, ValueError) as error:
            raise ValueError(f"--config={FLAGS.config}: {error}") from None
    config = config_from_flags(ExperimentConfig, FLAGS, base)
    if not config.model_dir:
        config = config.replace(model_dir=tempfile.mkdtemp(prefix="lbkeras-"))
    return config


def read_flagfile(path: str) -> ExperimentConfig:
    """The config a recipe flagfile gives on its own (no other flag applied).

    Raises:
        ValueError: no such file, or a flag in it that does not parse (with the file named).
    """
    if not os.path.isfile(path):
        raise ValueError(f"no flagfile {path}")
    flag_values = flags.FlagValues()
    define_flags(ExperimentConfig, flag_values)
    try:
        flag_values(["recipe", f"--flagfile={path}"])
        return config_from_flags(ExperimentConfig, flag_values)
    except (flags.Error, ValueError) as error:
        raise ValueError(f"recipe {path}: {error}") from None


def fail(program: str, message: str) -> int:
    """Prints ``program: message`` on stderr; returns the bad-input exit status."""
    print(f"{program}: {message}", file=sys.stderr)
    return EXIT_BAD_INPUT


def flags_parser(program: str) -> Callable[[list[str]], list[str]]:
    """absl's parsing, with a bad flag reported in one line and exit status 2."""

    def parse(argv: list[str]) -> list[str]:
        try:
            return FLAGS(argv)
        except flags.Error as error:
            sys.exit(fail(program, f"error: {error}"))

    return parse


def no_arguments(program: str, argv: list[str]) -> int | None:
    """The bad-input status if ``argv`` has positional arguments (tools take flags only)."""
    if len(argv) > 1:
        return fail(program, f"unexpected arguments {argv[1:]}; flags start with --")
    return None
