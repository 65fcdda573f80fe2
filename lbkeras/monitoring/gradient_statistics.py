"""Gradient statistics measured inside the optimizer: noise scale, norms, trust ratios.

:class:`GradientStatistics` wraps any optimizer and measures, without changing what it
computes:

* every update: the two norms of the gradient noise scale (McCandlish et al. 2018).
  The small-batch gradients are each replica's own gradient of each micro-batch
  (before the all-reduce), the large-batch gradient is the all-reduced one the
  optimizer steps with; their squared norms give unbiased estimates of ``|G|^2`` and
  ``tr(Sigma)`` (:mod:`lbkeras.optimizers.noise_scale`), each smoothed by a debiased
  EMA (non-finite steps skipped, float32). It costs two sums of squares over the
  gradients and one scalar more in the gradients' own all-reduce;
* every ``every_steps`` updates: the global gradient norm, the global update/weight
  ratio and, per variable, the weight norm, the gradient norm, the update norm and
  the trust ratio actually applied (LARS, LAMB, ``TrustRatio``; 1 elsewhere). These
  are written into a ring buffer of ``capacity`` rows, an optimizer variable, so that
  nothing leaves the device during training: :class:`GradientStatisticsLogger` reads
  the rows once per epoch and writes them to TensorBoard on the optimizer-step axis.

It needs at least two small-batch gradients per update (replicas x accumulation steps
>= 2) for the noise scale; the norms are measured in any case. Keras scales each
replica's loss by ``1 / replicas``; the statistics undo that, and a
``LossScaleOptimizer`` (mixed precision) unscales before the wrapper sees anything.
Put it around the optimizer chain, inside ``GradientAccumulation`` if any (whose
micro-batches are small batches too): ``GradientAccumulation(GradientStatistics(
LARS(...)), 4)``.

References:
    McCandlish, Kaplan, Amodei, OpenAI Dota Team, "An Empirical Model of Large-Batch
    Training", arXiv:1812.06162, 2018.

Example:
    >>> model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    >>> statistics = GradientStatistics(keras.optimizers.SGD(0.1), every_steps=2)
    >>> model.compile(lbkeras.optimizers.GradientAccumulation(statistics, 4), "mse")
    >>> rng = np.random.default_rng(0)
    >>> x = rng.normal(size=(256, 3)).astype("float32")
    >>> y = x @ np.array([[1.0], [2.0], [3.0]], "float32") + rng.normal(size=(256, 1))
    >>> _ = model.fit(x, y, batch_size=16, epochs=1, verbose=0)  # 16 x 4 examples an update
    >>> estimate = statistics.noise_scale(small_batch_size=16)
    >>> sorted(estimate)
    ['b_simple', 'grad_norm_sq', 'trace_sigma']
    >>> [int(row["step"]) for row in statistics.rows()]  # updates 0, 2
    [0, 2]
"""

from __future__ import annotations

from typing import Any

import keras
import numpy as np
from keras import ops

from lbkeras.checks import check_fraction, check_int
from lbkeras.optimizers.layerwise import TrustRatioRecorder, variable_path
from lbkeras.optimizers.noise_scale import NoiseScaleObserver, read
from lbkeras.optimizers.wrapper import OptimizerWrapper, find_in_chain

#: The per-step scalars of a buffer row, in column order (then the per-variable blocks).
SCALARS = (
    "step",
    "local",
    "total",
    "n",
    "ema_grad_norm_sq",
    "ema_trace_per_b",
    "ema_weight",
    "grad_norm",
    "update_to_weight",
)
#: The per-variable blocks of a row, each one value per trainable variable.
PER_VARIABLE = ("weight_norm", "gradient_norm", "update_norm", "trust_ratio")


def _float(value) -> Any:
    return ops.cast(value, "float32")


@keras.saving.register_keras_serializable(package="lbkeras")
class GradientStatistics(NoiseScaleObserver, OptimizerWrapper):
    """Measures the gradient noise scale, norms and trust ratios of ``optimizer``'s steps.

    Args:
        optimizer: the optimizer (or chain of wrappers) to measure.
        every_steps: the period, in optimizer updates, of the per-variable rows.
        ema_decay: the decay of the debiased EMAs of ``|G|^2`` and ``tr(Sigma)``.
        capacity: rows the ring buffer holds between two reads (a logger reading once per
            epoch needs ``ceil(steps per epoch / every_steps) + 1``).
        name: the wrapper's name.
    """

    def __init__(
        self,
        optimizer: keras.optimizers.Optimizer,
        every_steps: int = 100,
        ema_decay: float = 0.99,
        capacity: int = 64,
        name: str = "gradient_statistics",
    ) -> None:
        super().__init__(optimizer, name=name)
        self.every_steps = check_int("every_steps", every_steps, positive=True)
        self.ema_decay = check_fraction("ema_decay", ema_decay)
        self.capacity = check_int("capacity", capacity, positive=True)

    def build(self, var_list):
        if self.built:
            return
        super().build(var_list)
        self.variable_paths = [variable_path(v) for v in var_list]
        width = len(SCALARS) + len(PER_VARIABLE) * len(var_list)

        self.build_noise_scale()
        self._per_variable = {
            name: [
                self.add_variable((), dtype="float32", name=f"{path.replace('/', '_')}_{name}")
                for path in self.variable_paths
            ]
            for name in ("weight_norm", "gradient_norm", "update_norm")
        }
        with keras.name_scope(self.name, caller=self):
            self._rows = keras.Variable(
                np.zeros((self.capacity, width), "float32"),
                name="rows",
                trainable=False,
                aggregation="only_first_replica",
            )
            self._rows_written = keras.Variable(
                0,
                name="rows_written",
                dtype="int",
                trainable=False,
                aggregation="only_first_replica",
            )
        self._track_variable(self._rows)
        self._track_variable(self._rows_written)

    # -- what the outermost wrapper shows it -------------------------------------------

    def _due(self):
        return ops.equal(self.iterations % self.every_steps, 0)

    def observe_squared_norms(self, squares: list) -> None:
        # Keras drops None gradients before the update: one square per trainable variable.
        for slot, square in zip(self._per_variable["gradient_norm"], squares):
            self.assign(slot, ops.sqrt(square))

    def update_step(self, gradient, variable, learning_rate):
        index = self._get_variable_index(variable)
        before = ops.copy(variable)
        super().update_step(gradient, variable, learning_rate)
        self.assign(
            self._per_variable["weight_norm"][index], ops.sqrt(ops.sum(ops.square(_float(before))))
        )
        change = _float(ops.subtract(variable, before))
        self.assign(self._per_variable["update_norm"][index], ops.sqrt(ops.sum(ops.square(change))))

    def observe_updated(self) -> None:
        self._write_row()

    def _write_row(self) -> None:
        """Appends this update's row to the ring buffer if the update is due."""
        weights = ops.stack([read(v) for v in self._per_variable["weight_norm"]])
        updates = ops.stack([read(v) for v in self._per_variable["update_norm"]])
        grads = ops.stack([read(v) for v in self._per_variable["gradient_norm"]])
        ratios = ops.stack(self._trust_ratios())
        scalars = ops.stack(
            [
                _float(self.iterations),
                read(self._last["local"]),
                read(self._last["total"]),
                read(self._last["n"]),
                read(self._ema_g2),
                read(self._ema_trace),
                read(self._ema_weight),
                ops.sqrt(ops.sum(ops.square(grads))),
                ops.sqrt(ops.sum(ops.square(updates)))
                / ops.maximum(ops.sqrt(ops.sum(ops.square(weights))), 1e-30),
            ]
        )
        row = ops.concatenate([scalars, weights, grads, updates, ratios])
        written = read(self._rows_written)
        slot = ops.one_hot(written % self.capacity, self.capacity, dtype="float32")[:, None]
        due = self._due()
        rows = read(self._rows)
        self.assign(self._rows, ops.where(due, rows * (1.0 - slot) + slot * row[None, :], rows))
        self.assign(self._rows_written, ops.where(due, written + 1, written))

    def _trust_ratios(self) -> list:
        """The applied trust ratio of each variable: the first recorder's in the chain."""
        recorder = find_in_chain(self.inner_optimizer, TrustRatioRecorder)
        if recorder is not None:
            return [read(v) for v in recorder.applied_trust_ratios]
        return [ops.ones((), "float32") for _ in self.variable_paths]

    # -- reading it back on the host ----------------------------------------------------

    def rows(self, since: int = 0) -> list[dict[str, Any]]:
        """The buffered rows written after the first ``since`` (oldest first), as dicts."""
        written = int(ops.convert_to_numpy(self._rows_written))
        values = ops.convert_to_numpy(self._rows)
        first = max(since, written - self.capacity)
        count = len(self.variable_paths)
        out = []
        for index in range(first, written):
            row = values[index % self.capacity]
            entry = dict(zip(SCALARS, (float(v) for v in row[: len(SCALARS)])))
            for block, name in enumerate(PER_VARIABLE):
                start = len(SCALARS) + block * count
                entry[name] = dict(zip(self.variable_paths, row[start : start + count].tolist()))
            out.append(entry)
        return out

    @property
    def rows_written(self) -> int:
        return int(ops.convert_to_numpy(self._rows_written))

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(
            {
                "every_steps": self.every_steps,
                "ema_decay": self.ema_decay,
                "capacity": self.capacity,
            }
        )
        return config
