"""Stop at the first NaN or infinite loss, before anything saves the broken weights."""

from __future__ import annotations

import math

import keras


class NonFiniteLossError(RuntimeError):
    """Training produced a NaN or infinite loss."""


class StopOnNonFiniteLoss(keras.callbacks.Callback):
    """Raises :class:`NonFiniteLossError` at the end of an epoch whose loss is not finite.

    Keras's ``TerminateOnNaN`` only sets ``stop_training``; ``fit`` then still runs the
    epoch-end callbacks, so ``BackupAndRestore`` and ``ModelCheckpoint`` would save the
    NaN weights over the last good ones. Put this callback before them: it raises in
    ``on_epoch_end`` (the epoch's mean loss is NaN or infinite if any batch's was), so
    ``fit`` leaves before they run and the last good checkpoint stays intact; the
    trainer turns the error into one message and a non-zero exit. Checking at epoch
    end, not per batch, keeps the steps free of host synchronisation.
    """

    def on_epoch_end(self, epoch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(float(loss)):
            step = int(self.model.optimizer.iterations.numpy())
            raise NonFiniteLossError(
                f"loss became {float(loss)} in epoch {epoch + 1} (by step {step}); training "
                "stopped, the last good checkpoint is kept. Lower the learning rate or "
                "lengthen the warmup."
            )
