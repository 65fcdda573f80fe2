"""Callbacks for what matters at large batch: learning rate, throughput, metrics on the
step axis, HParams, NaN and divergence safety and backups, the batch of a batch schedule
and what transfers with it; precise batch-norm statistics before each evaluation; one
TensorBoard writer per split."""

from lbkeras.callbacks.backup import (
    STATE_KEY,
    Backup,
    backed_up_epochs,
    backup_record,
    latest_backup,
    restore,
)
from lbkeras.callbacks.batch_size import BatchSizeLogger, HyperparameterTransfer
from lbkeras.callbacks.hparams import HPARAMS_METRICS, HParamsLogger
from lbkeras.callbacks.learning_rate import LearningRateLogger, learning_rate_at
from lbkeras.callbacks.metrics import MetricsLogger
from lbkeras.callbacks.non_finite import (
    LossDivergedError,
    NonFiniteLossError,
    StopOnNonFiniteLoss,
    divergence_limit,
)
from lbkeras.callbacks.precise_batch_norm import PreciseBatchNorm, recompute_batch_norm
from lbkeras.callbacks.throughput import ThroughputLogger
from lbkeras.callbacks.writers import SPLITS, SummaryWriters

__all__ = [
    "HPARAMS_METRICS",
    "SPLITS",
    "STATE_KEY",
    "Backup",
    "BatchSizeLogger",
    "HParamsLogger",
    "HyperparameterTransfer",
    "LearningRateLogger",
    "LossDivergedError",
    "MetricsLogger",
    "NonFiniteLossError",
    "PreciseBatchNorm",
    "StopOnNonFiniteLoss",
    "SummaryWriters",
    "ThroughputLogger",
    "backed_up_epochs",
    "backup_record",
    "divergence_limit",
    "recompute_batch_norm",
    "latest_backup",
    "learning_rate_at",
    "restore",
]
