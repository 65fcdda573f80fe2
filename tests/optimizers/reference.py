"""Independent NumPy implementations of the optimizer formulas in REFERENCES.md.

Each function advances the state of one variable by one step, in float64, written
from the papers' equations and nothing else of lbkeras's.
"""

from __future__ import annotations

import numpy as np


def lars_step(
    w, g, v, lr, *, momentum, eta, beta, eps, nesterov=False, clip=False, decay=True, adapt=True
):
    """You et al. 2017, Algorithm 1 with classic momentum; returns (w, v)."""
    beta = beta if decay else 0.0
    w_norm, g_norm = np.linalg.norm(w), np.linalg.norm(g)
    if not adapt or w_norm == 0 or g_norm == 0:
        local_lr = 1.0
    else:
        local_lr = eta * w_norm / (g_norm + beta * w_norm + eps)
        if clip:
            local_lr = min(local_lr / lr, 1.0)
    step = lr * local_lr * (g + beta * w)
    v = momentum * v + step
    w = w - (momentum * v + step if nesterov else v)
    return w, v


def lamb_step(
    w,
    g,
    m,
    v,
    t,
    lr,
    *,
    beta_1,
    beta_2,
    eps,
    lam,
    bias_correction=True,
    norm_clip=None,
    max_ratio=None,
    decay=True,
    adapt=True,
):
    """You et al. 2020, Algorithm 2; ``t`` is 1-based; returns (w, m, v)."""
    m = beta_1 * m + (1 - beta_1) * g
    v = beta_2 * v + (1 - beta_2) * g * g
    m_hat, v_hat = m, v
    if bias_correction:
        m_hat = m / (1 - beta_1**t)
        v_hat = v / (1 - beta_2**t)
    r = m_hat / (np.sqrt(v_hat) + eps)
    if decay:
        r = r + lam * w
    ratio = 1.0
    w_norm, r_norm = np.linalg.norm(w), np.linalg.norm(r)
    if adapt and w_norm > 0 and r_norm > 0:
        phi = w_norm if norm_clip is None else min(max(w_norm, norm_clip[0]), norm_clip[1])
        ratio = phi / r_norm
    if adapt and max_ratio is not None:  # a cap on every ratio, as in timm's Lamb
        ratio = min(ratio, max_ratio)
    return w - lr * ratio * r, m, v
