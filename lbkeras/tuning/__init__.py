"""Tuning for a batch size: the learning-rate range test, the batch-size finder and the
batch-size scaling study, each a function here and a console script in ``tools/``.

* :func:`lr_range_test` (any compiled model) and :func:`lr_find` (an experiment config,
  with ``lr_find.json/.csv/.png``): Smith's learning-rate range test (``lbkeras-lr-find``).
* :func:`find_batch_size`: the feasible global batches and their throughput, each probed
  in a fresh process (``lbkeras-batch-find``).
* :func:`run_study`: steps to a target eval metric against batch size, a learning-rate
  search per batch, and the fit ``S = S_min (1 + B_crit / B)`` (``lbkeras-study``).

Each trial of the finder and the study is a config run in a process of its own
(:mod:`lbkeras.tuning.process`).
"""

from lbkeras.tuning.batch_finder import BatchSearch, BatchSearchSettings, find_batch_size
from lbkeras.tuning.lr_find import RangeTestSettings, lr_find
from lbkeras.tuning.lr_ramp import MODES, LearningRateRamp
from lbkeras.tuning.lr_range import SUGGESTIONS, RangeTest, lr_range_test, smooth, suggest
from lbkeras.tuning.scaling_fit import ScalingFit, fit_scaling, steps_to_target
from lbkeras.tuning.study import StudySettings, learning_rate_factors, plan_trials, run_study

__all__ = [
    "MODES",
    "SUGGESTIONS",
    "BatchSearch",
    "BatchSearchSettings",
    "LearningRateRamp",
    "RangeTest",
    "RangeTestSettings",
    "ScalingFit",
    "StudySettings",
    "find_batch_size",
    "fit_scaling",
    "learning_rate_factors",
    "lr_find",
    "lr_range_test",
    "plan_trials",
    "run_study",
    "smooth",
    "steps_to_target",
    "suggest",
]
