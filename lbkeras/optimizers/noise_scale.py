"""The gradient noise scale from small- and large-batch gradient norms (McCandlish et al. 2018).

With ``n`` gradients ``g_i`` of ``b`` examples each (``n`` = replicas x accumulation
steps) and their mean ``G_big`` (the gradient of the whole batch, ``B = n b``):

* ``local = mean_i |g_i|^2`` and ``total = |G_big|^2`` are the two measured norms;
* ``|G|^2 ~ (n total - local) / (n - 1)`` and ``tr(Sigma) / b ~ (local - total) n / (n - 1)``
  are unbiased estimates of the true gradient's squared norm and of the per-example
  covariance's trace (divided by ``b``): ``E|g_i|^2 = |G|^2 + tr(Sigma)/b`` and
  ``E|G_big|^2 = |G|^2 + tr(Sigma)/B``, solved for the two unknowns;
* ``B_simple = tr(Sigma) / |G|^2``, the critical batch's estimate: beyond it, a larger
  batch buys few steps. Single-step estimates are very noisy (``|G|^2`` is often
  negative), so each of the two is smoothed separately (debiased EMA) and only then
  divided.

These functions are ``keras.ops`` arithmetic, used in-graph and on NumPy values by
tests. :class:`NoiseScaleObserver` keeps the smoothed estimates inside an optimizer
wrapper; :class:`~lbkeras.monitoring.GradientStatistics` and
:class:`~lbkeras.optimizers.AdaScale` are built on it.

References:
    McCandlish, Kaplan, Amodei, OpenAI Dota Team, "An Empirical Model of Large-Batch
    Training", arXiv:1812.06162, 2018 (appendix A.1).

Example:
    >>> g2, trace_per_b = unbiased_estimates(local=5.0, total=2.0, n=4)
    >>> float(g2), float(trace_per_b)  # |G|^2 = (4*2 - 5)/3, tr(Sigma)/b = (5 - 2)*4/3
    (1.0, 4.0)
    >>> b_simple(trace_per_b, g2, small_batch_size=32)  # 32 * 4 / 1
    128.0
"""

from __future__ import annotations

import math
from typing import Any

import keras
from keras import ops

from lbkeras.optimizers.wrapper import GradientObserver


def unbiased_estimates(local: Any, total: Any, n: Any) -> tuple[Any, Any]:
    """``(|G|^2, tr(Sigma) / b)`` from one step's ``local`` and ``total`` norms of ``n > 1``
    gradients of ``b`` examples each (float32 tensors)."""
    local, total, n = (ops.cast(x, "float32") for x in (local, total, n))
    g2 = (n * total - local) / (n - 1.0)
    trace_per_b = (local - total) * n / (n - 1.0)
    return g2, trace_per_b


def b_simple(trace_per_b: float, g2: float, small_batch_size: int) -> float:
    """``B_simple = tr(Sigma) / |G|^2`` from the smoothed estimates; NaN while ``|G|^2 <= 0``."""
    if not g2 > 0:
        return float("nan")
    return float(small_batch_size) * float(trace_per_b) / float(g2)


def debiased(
    ema_g2: float, ema_trace_per_b: float, weight: float, small_batch_size: int
) -> dict[str, float]:
    """``grad_norm_sq``, ``trace_sigma`` and ``b_simple`` from the EMA sums and their weight
    (``1 - decay^k`` after ``k`` valid steps); NaN before any."""
    if not weight > 0:
        return {"grad_norm_sq": math.nan, "trace_sigma": math.nan, "b_simple": math.nan}
    g2, trace_per_b = ema_g2 / weight, ema_trace_per_b / weight
    return {
        "grad_norm_sq": g2,
        "trace_sigma": trace_per_b * small_batch_size,
        "b_simple": b_simple(trace_per_b, g2, small_batch_size),
    }


def ema_update(average: Any, value: Any, decay: float, valid: Any) -> Any:
    """``decay * average + (1 - decay) * value`` where ``valid``, else ``average``."""
    return ops.where(valid, decay * average + (1.0 - decay) * value, average)


def squared_norms(grads) -> list:
    """The float32 squared norm of every gradient that is not None."""
    return [ops.sum(ops.square(ops.cast(g, "float32"))) for g in grads if g is not None]


def read(variable) -> Any:
    """A variable's value as a tensor (``convert_to_tensor`` gives a TF variable itself)."""
    return ops.convert_to_tensor(variable.value)


def _replicas() -> int:
    if keras.backend.backend() != "tensorflow":
        return 1
    import tensorflow as tf

    return tf.distribute.get_strategy().num_replicas_in_sync


class NoiseScaleObserver(GradientObserver):
    """Mixin for optimizer wrappers: the smoothed ``|G|^2`` and ``tr(Sigma) / b`` of every update.

    Each replica sums the squared norms of its own micro-batch gradients (Keras scales
    a replica's loss by ``1 / replicas``; undone here), the sums ride in the gradients'
    all-reduce, and at the update :func:`unbiased_estimates` of the two quantities are
    folded into debiased EMAs of decay ``self.ema_decay`` (steps with fewer than two
    small gradients, or non-finite ones, are skipped). Call :meth:`build_noise_scale`
    in ``build``.
    """

    def build_noise_scale(self) -> None:
        def scalar(name, synchronization="auto", aggregation="only_first_replica"):
            with keras.name_scope(self.name, caller=self):
                variable = keras.Variable(
                    0.0,
                    name=name,
                    dtype="float32",
                    trainable=False,
                    synchronization=synchronization,
                    aggregation=aggregation,
                )
            self._track_variable(variable)
            return variable

        # Each replica's own sums since the last update (read and reset at the update).
        self._local_sum = scalar("local_sum", "on_read", "sum")
        self._local_count = scalar("local_count", "on_read", "sum")
        self._ema_g2 = scalar("ema_grad_norm_sq")
        self._ema_trace = scalar("ema_trace_per_b")
        self._ema_weight = scalar("ema_weight")  # 1 - decay^k after k valid steps
        self._last = {name: scalar(f"last_{name}") for name in ("local", "total", "n")}

    def observe_local(self, grads) -> None:
        self.assign_add(self._local_sum, ops.sum(ops.stack(squared_norms(grads))))
        self.assign_add(self._local_count, 1.0)

    def local_sums(self) -> list:
        return [read(self._local_sum), read(self._local_count)]

    def observe_reduced(self, grads, sums) -> None:
        local_sum, n = sums
        replicas = float(_replicas())
        local = replicas * replicas * local_sum / ops.maximum(n, 1.0)
        squares = squared_norms(grads)
        self.observe_squared_norms(squares)
        total = ops.sum(ops.stack(squares))
        g2, trace_per_b = unbiased_estimates(local, total, ops.maximum(n, 2.0))
        valid = ops.logical_and(ops.greater(n, 1.0), ops.isfinite(g2 + trace_per_b))
        decay = self.ema_decay
        for variable, value in (
            (self._ema_g2, g2),
            (self._ema_trace, trace_per_b),
            (self._ema_weight, 1.0),
        ):
            self.assign(variable, ema_update(read(variable), value, decay, valid))
        for name, value in (("local", local), ("total", total), ("n", n)):
            self.assign(self._last[name], value)
        self.assign(self._local_sum, ops.zeros_like(local_sum))
        self.assign(self._local_count, ops.zeros_like(n))

    def observe_squared_norms(self, squares: list) -> None:
        """Each reduced gradient's squared norm (None gradients left out), for subclasses
        that also want them per variable; computed once, here."""

    def smoothed(self) -> tuple[Any, Any]:
        """In-graph ``(|G|^2, tr(Sigma) / b)``, debiased; ``(0, 0)`` before any estimate."""
        weight = ops.maximum(read(self._ema_weight), 1e-30)
        return read(self._ema_g2) / weight, read(self._ema_trace) / weight

    def noise_scale(self, small_batch_size: int) -> dict[str, float]:
        """The smoothed ``grad_norm_sq`` (``|G|^2``), ``trace_sigma`` and ``b_simple``.

        Args:
            small_batch_size: examples of one small-batch gradient (one replica's
                micro-batch).
        """
        sums = (self._ema_g2, self._ema_trace, self._ema_weight)
        ema_g2, ema_trace, weight = (float(ops.convert_to_numpy(v)) for v in sums)
        return debiased(ema_g2, ema_trace, weight, small_batch_size)
