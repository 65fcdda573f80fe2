"""Callbacks for what matters at large batch: learning rate, throughput, NaN safety."""

from lbkeras.callbacks.hparams import HParamsLogger
from lbkeras.callbacks.learning_rate import LearningRateLogger, learning_rate_at
from lbkeras.callbacks.non_finite import NonFiniteLossError, StopOnNonFiniteLoss
from lbkeras.callbacks.throughput import ThroughputLogger

__all__ = [
    "HParamsLogger",
    "LearningRateLogger",
    "NonFiniteLossError",
    "StopOnNonFiniteLoss",
    "ThroughputLogger",
    "learning_rate_at",
]
