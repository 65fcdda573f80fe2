"""The experiment runner a user can call from Python, and the trainer's config."""

from lbkeras.training.config import ExperimentConfig
from lbkeras.training.experiment import Plan, plan, run
from lbkeras.training.recipe import build_optimizer, build_schedule, peak_learning_rate

__all__ = [
    "ExperimentConfig",
    "Plan",
    "build_optimizer",
    "build_schedule",
    "peak_learning_rate",
    "plan",
    "run",
]
