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

These functions are ``keras.ops`` arithmetic, used in-graph by
:class:`~lbkeras.monitoring.GradientStatistics` and on NumPy values by tests.

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

from typing import Any

from keras import ops


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


def ema_update(average: Any, value: Any, decay: float, valid: Any) -> Any:
    """``decay * average + (1 - decay) * value`` where ``valid``, else ``average``."""
    return ops.where(valid, decay * average + (1.0 - decay) * value, average)
