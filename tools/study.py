"""lbkeras-study: a batch-size scaling study (Shallue et al. 2018) from the command line.

For each recipe (a flagfile of ``lbkeras-train``) and each of ``--batch_sizes``, a small
learning-rate search around the recipe's scaling rule (``--trials`` runs); the steps
each batch's best trial needs to reach ``--target`` on ``--target_metric`` (an eval
accuracy, at or above it, by default for classifiers; the eval loss, at or below it, for
language models; or ``eval_bits_per_byte``), fitted with
``S = S_min (1 + B_crit / B)``. Writes ``study.json``, ``study.csv``, ``study.md`` and
three plots into ``--model_dir``; rerun the same command to resume (finished trials are
skipped). Every other flag of ``lbkeras-train`` given here applies to every recipe.

    lbkeras-study --recipes=configs/mnist1d_lars_2k.cfg --batch_sizes=256,1024,4096 \\
        --target=0.95 --trials=3 --epochs=10 --model_dir=/tmp/study
    lbkeras-study --batch_sizes=64,512 --target=0.9 --model_dir=/tmp/quick   # the default recipe
    lbkeras-study --model=transformer_lm --dataset=text --train_tokens=20000000 \\
        --batch_sizes=16,64,256 --target_metric=eval_loss --target=1.8 --model_dir=/tmp/lm

Bad input (a recipe that does not exist or does not parse, an empty batch list, a
target metric the recipes do not report, a target that cannot be reached) prints one
line and exits with status 2, before any trial runs.
"""

from __future__ import annotations

import logging
import os

from absl import flags

from lbkeras.training.config_flags import ExperimentConfig, config_from_flags, define_flags
from lbkeras.tuning.study import StudySettings, run_study
from lbkeras.tuning.study_report import markdown

from .common import (
    define_experiment_flags,
    experiment_config,
    print_progress,
    read_flagfile,
    run_tool,
)

FLAGS = flags.FlagValues()
STUDY = "study"  # the topic of this tool's own flags in --help
flags.DEFINE_list(
    "recipes",
    [],
    "Flagfiles of lbkeras-train, one per recipe (named after the file); none: the "
    "experiment the other flags give, named default.",
    flag_values=FLAGS,
    module_name=STUDY,
)
define_flags(StudySettings, FLAGS, group=STUDY)
define_experiment_flags(FLAGS, default_run_dir=False)
FLAGS["model_dir"].help += " Required: the study's folder (rerun the command to resume)."

PROGRAM = "lbkeras-study"


def recipes_from_flags() -> dict[str, ExperimentConfig]:
    """Each ``--recipes`` flagfile as a config, with this command's experiment flags on top."""
    if not FLAGS.recipes:
        return {"default": experiment_config(FLAGS)}
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


def main() -> int:
    if not FLAGS.model_dir:
        raise ValueError("--model_dir is required: the study's folder (rerun to resume)")
    settings = config_from_flags(StudySettings, FLAGS)
    recipes = recipes_from_flags()
    summary = run_study(recipes, settings, FLAGS.model_dir, progress=print_progress)
    print(markdown(summary), end="")
    print(f"study {summary['settings']} written to {FLAGS.model_dir}")
    return 0


def run_main() -> None:
    """Console-script entry point (``lbkeras-study``)."""
    run_tool(PROGRAM, main, FLAGS, __doc__, log_level=logging.WARNING)


if __name__ == "__main__":
    run_main()
