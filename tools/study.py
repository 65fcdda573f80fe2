"""lbkeras-study: a batch-size scaling study (Shallue et al. 2018) from the command line.

For each recipe (a flagfile of ``lbkeras-train``) and each of ``--batch_sizes``, a small
learning-rate search around the recipe's scaling rule (``--trials`` runs); the steps
each batch's best trial needs to reach ``--target`` eval accuracy, fitted with
``S = S_min (1 + B_crit / B)``. Writes ``study.json``, ``study.csv``, ``study.md`` and
three plots into ``--model_dir``; rerun the same command to resume (finished trials are
skipped). Every other flag of ``lbkeras-train`` given here applies to every recipe.

    lbkeras-study --recipes=configs/mnist1d_lars_2k.cfg --batch_sizes=256,1024,4096 \\
        --target=0.95 --trials=3 --epochs=10 --model_dir=/tmp/study
    lbkeras-study --batch_sizes=64,512 --target=0.9 --model_dir=/tmp/quick   # the default recipe

Bad input (a recipe that does not exist or does not parse, an empty batch list, a
target that cannot be reached) prints one line and exits with status 2, before any
trial runs.
"""

from __future__ import annotations

import dataclasses
import logging
import os

from absl import app, flags

from lbkeras.training.config_flags import ExperimentConfig, config_from_flags, define_flags
from lbkeras.tuning.study import StudySettings

from .common import FLAGS, experiment_config, fail, flags_parser, no_arguments, read_flagfile

define_flags(StudySettings, FLAGS)
flags.DEFINE_list(
    "recipes",
    [],
    "Flagfiles of lbkeras-train, one per recipe (named after the file); none: the "
    "experiment the other flags give, named default.",
)

PROGRAM = "lbkeras-study"


def recipes_from_flags() -> dict[str, ExperimentConfig]:
    """Each ``--recipes`` flagfile as a config, with this command's experiment flags on top."""
    if not FLAGS.recipes:
        return {"default": experiment_config()}
    recipes = {}
    for path in FLAGS.recipes:
        name = os.path.splitext(os.path.basename(path))[0]
        if name in recipes:
            raise ValueError(f"two recipes are named {name!r}: rename one of the flagfiles")
        try:
            recipe = read_flagfile(path)
        except ValueError as error:
            raise ValueError(f"--recipes: {error}") from None
        recipes[name] = config_from_flags(ExperimentConfig, FLAGS, base=recipe)
    return recipes


def main(argv: list[str]) -> int:
    if (bad := no_arguments(PROGRAM, argv)) is not None:
        return bad
    if not FLAGS.model_dir:
        return fail(PROGRAM, "error: --model_dir is required: the study's folder (rerun to resume)")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    logging.getLogger().setLevel(logging.WARNING)
    from lbkeras.tuning.study import run_study

    try:
        settings = config_from_flags(StudySettings, FLAGS)
        recipes = recipes_from_flags()
        summary = run_study(recipes, settings, FLAGS.model_dir, progress=_print)
    except (ValueError, TypeError, FileNotFoundError) as error:
        return fail(PROGRAM, f"error: {error}")
    from lbkeras.tuning.study_report import markdown

    print(markdown(summary), end="")
    print(f"study {dataclasses.asdict(settings)} written to {FLAGS.model_dir}")
    return 0


def _print(line: str) -> None:
    print(line, flush=True)


_parse_flags = flags_parser(PROGRAM)


def run_main() -> None:
    """Console-script entry point (``lbkeras-study``)."""
    app.run(main, flags_parser=_parse_flags)


if __name__ == "__main__":
    run_main()
