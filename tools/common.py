"""What every lbkeras console script shares: its entry point, the experiment flags, the
default run folder and one-line errors.

Each tool has flags of its own (its own absl ``FlagValues``, so that the five tools can
live in one process and no flag is shared by name): ``lbkeras-sharpness`` only its own,
the others every setting of :class:`lbkeras.training.ExperimentConfig` (a flag of the
same name) and ``--config`` (a run's ``config.json``) beside theirs. :func:`run_tool`
is the entry of each: ``--help`` prints the tool's docstring and its flags by topic
(each setting's ``group``); bad input prints one line ``PROGRAM: error: ...`` on stderr
and the tool exits with status 2.
"""

from __future__ import annotations

import errno
import glob
import logging
import os
import re
import sys
import time
from collections.abc import Callable

from absl import app, flags

from lbkeras.training.config import EXPERIMENT
from lbkeras.training.config_flags import ExperimentConfig, config_from_flags, define_flags

EXIT_BAD_INPUT = 2
#: What asks for the usage instead of a run (absl's spellings).
HELP_FLAGS = ("-h", "-?", "--help", "-help", "--helpshort", "--helpfull")
#: Where a tool puts a run given no --model_dir, relative to the current folder.
RUNS_DIR = "runs"
#: The repository's recipes (absent where the tools are installed without the checkout).
CONFIGS_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "configs")

_new_run_dirs: list[str] = []  # made by new_run_dir in this process, removed if left empty


def run_tool(
    program: str,
    main: Callable[[], int],
    flag_values: flags.FlagValues,
    doc: str,
    log_level: int = logging.INFO,
) -> None:
    """Runs a console script: parses its flags, sets the log level, exits with main's status.

    Args:
        program: the console script's name, which starts every error line.
        main: the tool on its parsed flags; returns the exit status, raises
            ``ValueError``, ``TypeError`` or ``FileNotFoundError`` for bad input.
        flag_values: the tool's own flags.
        doc: what ``--help`` prints above the flags (the tool's module docstring).
        log_level: of Python's root logger while the tool runs.
    """

    def parse(argv: list[str]) -> list[str]:
        parse_flags(program, flag_values, doc, argv)
        flags.FLAGS(argv[:1])  # absl's own (logging) flags at their defaults: app.run wants them
        return argv[:1]

    def run(_: list[str]) -> int:
        logging.getLogger().setLevel(log_level)
        return tool_status(program, main)

    app.run(run, flags_parser=parse)


def parse_flags(program: str, flag_values: flags.FlagValues, doc: str, argv: list[str]) -> None:
    """Parses ``argv`` into ``flag_values``.

    Raises:
        SystemExit: 0 after printing the usage for ``--help`` (any of :data:`HELP_FLAGS`);
            2 after one line on stderr for a flag that does not parse, a missing flagfile
            (listing the recipes) or a positional argument.
    """
    if any(arg in HELP_FLAGS for arg in argv[1:]):
        try:
            print(usage(flag_values, doc), flush=True)
        except BrokenPipeError:  # --help | head
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        raise SystemExit(0)
    try:
        rest = flag_values(argv)
    except flags.CantOpenFlagFileError as error:
        raise SystemExit(fail(program, f"error: {_unreadable_flagfile(str(error))}")) from None
    except flags.Error as error:
        raise SystemExit(fail(program, f"error: {error}")) from None
    if len(rest) > 1:
        raise SystemExit(
            fail(program, f"error: unexpected arguments {rest[1:]}; flags start with --")
        )


def tool_status(program: str, main: Callable[[], int]) -> int:
    """``main()``'s exit status; bad input (``ValueError``, ``TypeError``,
    ``FileNotFoundError``) is one line on stderr and status 2, and leaves no empty run
    folder behind."""
    try:
        return main()
    except (ValueError, TypeError, FileNotFoundError) as error:
        for path in _new_run_dirs:
            if os.path.isdir(path) and not os.listdir(path):
                os.rmdir(path)
        return fail(program, f"error: {error}")


def usage(flag_values: flags.FlagValues, doc: str) -> str:
    """The tool's docstring (as plain text), then its flags by topic, each topic's
    alphabetically."""
    text = re.sub(r":\w+:`~?([^`]*)`", r"\1", doc.strip()).replace("``", "")
    topics = "\n".join(
        flag_values.module_help(topic) for topic in flag_values.flags_by_module_dict()
    )
    return (
        f"{text}\n\nFlags (--flagfile=FILE reads more from a file, one a line; "
        f"later flags override it):\n{topics}"
    )


def define_experiment_flags(flag_values: flags.FlagValues, default_run_dir: bool = True) -> None:
    """Defines ``--config`` and a flag per setting of ExperimentConfig in ``flag_values``.

    Args:
        default_run_dir: whether the tool makes a new run folder when ``--model_dir`` is
            not given (:func:`experiment_config`); the help of ``--model_dir`` says so.
    """
    flags.DEFINE_string(
        "config",
        "",
        "A run's config.json to start from (flags given beside it override its settings).",
        flag_values=flag_values,
        module_name=EXPERIMENT,
    )
    define_flags(ExperimentConfig, flag_values)
    if default_run_dir:
        flag_values["model_dir"].help += f" Default: a new folder {RUNS_DIR}/DATE-TIME here."


def experiment_config(flag_values: flags.FlagValues) -> ExperimentConfig:
    """The flags as an ExperimentConfig (validated), on top of ``--config`` if given; a
    new run folder (:func:`new_run_dir`) if no ``model_dir`` is given."""
    base = None
    if flag_values.config:
        try:
            with open(flag_values.config) as f:
                base = ExperimentConfig.from_json(f.read())
        except (OSError, ValueError) as error:
            raise ValueError(f"--config={flag_values.config}: {error}") from None
    config = config_from_flags(ExperimentConfig, flag_values, base)
    if not config.model_dir:
        config = config.replace(model_dir=new_run_dir())
    return config


def new_run_dir() -> str:
    """Makes and returns a new folder ``runs/YYYYmmdd-HHMMSS`` in the current folder (with
    ``-2``, ``-3``... if taken: two runs started in the same second get two folders).

    Raises:
        ValueError: the folder cannot be made (``runs`` is a file, or not writable).
    """
    stamp = time.strftime("%Y%m%d-%H%M%S")
    path, number = os.path.join(RUNS_DIR, stamp), 1
    try:
        os.makedirs(RUNS_DIR, exist_ok=True)
        while not _made(path):
            number += 1
            path = os.path.join(RUNS_DIR, f"{stamp}-{number}")
    except OSError as error:
        raise ValueError(
            f"cannot make a run folder in {os.path.abspath(RUNS_DIR)} ({error.strerror}): "
            "give --model_dir"
        ) from None
    _new_run_dirs.append(path)
    return path


def _made(path: str) -> bool:
    """Whether this call made the folder ``path`` (False: it exists already)."""
    try:
        os.mkdir(path)
    except FileExistsError:
        return False
    return True


def read_flagfile(path: str) -> ExperimentConfig:
    """The config a recipe flagfile gives on its own (no other flag applied).

    Raises:
        ValueError: no such file (listing the recipes), or a flag in it that does not
            parse (with the file named).
    """
    if not os.path.isfile(path):
        raise ValueError(_missing_flagfile(path))
    flag_values = flags.FlagValues()
    define_flags(ExperimentConfig, flag_values)
    try:
        flag_values(["recipe", f"--flagfile={path}"])
        return config_from_flags(ExperimentConfig, flag_values)
    except (flags.Error, ValueError) as error:
        raise ValueError(f"recipe {path}: {error}") from None


def recipe_path(name: str) -> str:
    """A recipe's flagfile: ``name`` itself if it ends in ``.cfg``, else ``configs/NAME.cfg``."""
    return name if name.endswith(".cfg") else os.path.join(CONFIGS_DIR, f"{name}.cfg")


def seed_run(
    recipe: ExperimentConfig, name: str, seed: int, work_dir: str, data_dir: str = ""
) -> ExperimentConfig:
    """One seed's quiet run of ``recipe`` (called ``name``) in ``work_dir/NAME/seedN``: the
    layout the benchmarks share, so that one reads back another's finished runs;
    ``data_dir`` replaces the recipe's when given."""
    return recipe.replace(
        seed=seed,
        model_dir=os.path.join(work_dir, name, f"seed{seed}"),
        data_dir=data_dir or recipe.data_dir,
        verbose=0,
    )


def print_progress(line: str) -> None:
    """Prints one progress line of a long-running tool at once (not when the buffer fills)."""
    print(line, flush=True)


def fail(program: str, message: str) -> int:
    """Prints ``program: message`` on stderr; returns the bad-input exit status."""
    print(f"{program}: {message}", file=sys.stderr)
    return EXIT_BAD_INPUT


def _missing_flagfile(path: str) -> str:
    recipes = [_shown(recipe) for recipe in sorted(glob.glob(os.path.join(CONFIGS_DIR, "*.cfg")))]
    return f"no flagfile {path}" + (f"; the recipes are: {', '.join(recipes)}" if recipes else "")


def _unreadable_flagfile(absl_message: str) -> str:
    """absl's "ERROR:: Unable to open flagfile: [Errno 2] No such file ...: 'PATH'" said
    plainly."""
    found = re.search(r"\[Errno (\d+)\] ([^:]*): '(.*)'$", absl_message)
    if found is None:
        return absl_message
    number, reason, path = found.groups()
    if int(number) == errno.ENOENT:
        return _missing_flagfile(path)
    return f"cannot read flagfile {path} ({reason})"


def _shown(path: str) -> str:
    """``path`` relative to the current folder if it lies below it, else absolute."""
    relative = os.path.relpath(path)
    return path if relative.startswith(os.pardir) else relative
