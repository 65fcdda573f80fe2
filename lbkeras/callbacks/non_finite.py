"""Stop at the first NaN, infinite or diverged loss, before anything saves the broken weights.

Example:
    >>> round(divergence_limit(num_classes=10, factor=100), 2)  # 100 x ln(10)
    230.26
    >>> divergence_limit(num_classes=10, factor=0) is None  # off
    True
"""

from __future__ import annotations

import math

import keras

from lbkeras.checks import check_float, check_int

#: What to change when the loss blows up, in every message.
FIX = "Lower the learning rate (the trainer's --base_learning_rate) or lengthen the warmup."


class NonFiniteLossError(RuntimeError):
    """Training produced a NaN or infinite loss (or, :class:`LossDivergedError`, a finite
    loss far above where training starts)."""


class LossDivergedError(NonFiniteLossError):
    """Training's loss stayed finite but rose far above where it started: it diverged.

    A subclass of :class:`NonFiniteLossError`, so that whatever handles a NaN loss (the
    trainer's exit status 3, a diverged trial of a study) handles this one the same way.
    """


def divergence_limit(num_classes: int, factor: float) -> float | None:
    """The loss above which a classifier trained with cross-entropy has diverged:
    ``factor`` times ``ln(num_classes)``, the cross-entropy of a uniform prediction (where
    training from a fresh initialisation starts, for hard, smoothed or mixed labels alike);
    None if ``factor`` is 0 (no limit). A one-class model counts as two (its loss is 0).
    """
    check_int("num_classes", num_classes, positive=True)
    if not check_float("factor", factor):
        return None
    return factor * math.log(max(2, num_classes))


class StopOnNonFiniteLoss(keras.callbacks.Callback):
    """Raises at the end of an epoch whose loss is not finite, or is above ``max_loss``.

    Keras's ``TerminateOnNaN`` only sets ``stop_training``; ``fit`` then still runs the
    epoch-end callbacks, so ``BackupAndRestore`` and ``ModelCheckpoint`` would save the
    NaN weights over the last good ones. Put this callback before them: it raises in
    ``on_epoch_end`` (the epoch's mean loss is NaN or infinite if any batch's was), so
    ``fit`` leaves before they run and the last good checkpoint stays intact; the
    trainer turns the error into one message and a non-zero exit. Checking at epoch
    end, not per batch, keeps the steps free of host synchronisation.

    A run can also diverge without a NaN: with too high a learning rate the loss may
    settle at 1e14 with chance accuracy. ``max_loss`` (e.g. :func:`divergence_limit`)
    catches that: an epoch whose mean loss is above it raises :class:`LossDivergedError`.

    Args:
        max_loss: the largest mean epoch loss of a run that has not diverged; None: no
            limit (only NaN and infinity stop training).
        limit_name: how messages describe ``max_loss`` (where it comes from).
    """

    def __init__(self, max_loss: float | None = None, limit_name: str = "") -> None:
        super().__init__()
        self.max_loss = (
            None if max_loss is None else check_float("max_loss", max_loss, positive=True)
        )
        self.limit_name = limit_name

    def on_epoch_end(self, epoch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is None:
            return
        loss = float(loss)
        if math.isfinite(loss) and (self.max_loss is None or loss <= self.max_loss):
            return
        step = int(self.model.optimizer.iterations.numpy())
        where = f"in epoch {epoch + 1} (by step {step})"
        if not math.isfinite(loss):
            raise NonFiniteLossError(
                f"loss became {loss} {where}; training stopped, the last good checkpoint is "
                f"kept. {FIX}"
            )
        limit = f"{self.max_loss:.4g}" + (f" ({self.limit_name})" if self.limit_name else "")
        raise LossDivergedError(
            f"loss {loss:.4g} {where} is above {limit}: training diverged and stopped, the "
            f"last good checkpoint is kept. {FIX}"
        )
