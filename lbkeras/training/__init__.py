"""The experiment runner a user can call from Python, its config, plan and dry run."""

from lbkeras.training.config import ExperimentConfig, setting
from lbkeras.training.dry_run import dry_run, plot_learning_rate
from lbkeras.training.experiment import build, prepare, report, run, train
from lbkeras.training.plan import Plan, plan
from lbkeras.training.recipe import (
    base_optimizer_name,
    build_optimizer,
    build_schedule,
    peak_learning_rate,
)

__all__ = [
    "ExperimentConfig",
    "Plan",
    "base_optimizer_name",
    "build",
    "build_optimizer",
    "build_schedule",
    "dry_run",
    "peak_learning_rate",
    "plan",
    "plot_learning_rate",
    "prepare",
    "report",
    "run",
    "setting",
    "train",
]
