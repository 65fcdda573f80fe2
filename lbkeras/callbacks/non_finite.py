"""Stop at the first NaN or infinite loss, before anything saves the broken weights."""

from __future__ import annotations

import math

import keras


class NonFiniteLossError(RuntimeError):
    """Training produced a NaN or infinite loss."""


class StopOnNonFiniteLoss(keras.callbacks.Callback):
    """Raises :class:`NonFiniteLossError` at the first batch whose loss is not finite.

    Keras's ``TerminateOnNaN`` only sets ``stop_training``; ``fit`` then still runs the
    epoch-end callbacks, so ``BackupAndRestore`` and ``ModelCheckpoint`` would save the
    NaN weights over the last good ones. Raising leaves ``fit`` at once, so the last
    good checkpoint stays intact; the trainer turns the error into one message and a
    non-zero exit.
    """

    def on_train_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(float(loss)):
            step = int(self.model.optimizer.iterations.numpy())
            raise NonFiniteLossError(
                f"loss became {float(loss)} at step {step} (batch {batch}); training stopped, "
                "the last good checkpoint is kept. Lower the learning rate or lengthen the "
                "warmup."
            )
