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


# --- the wrapped optimizers, as Keras defines them -----------------------------------


def sgd_step(w, g, m, lr, *, momentum=0.0, nesterov=False):
    """Keras's SGD: m <- momentum m - lr g; w <- w + m (Nesterov: + momentum m - lr g)."""
    if momentum == 0:
        return w - lr * g, m
    m = momentum * m - lr * g
    return w + (momentum * m - lr * g if nesterov else m), m


def adam_step(w, g, m, v, t, lr, *, beta_1, beta_2, eps):
    """Keras's Adam (Kingma & Ba, Algorithm 1 with the "epsilon hat" of section 2):
    epsilon is added to the uncorrected sqrt(v); ``t`` is 1-based; returns (w, m, v)."""
    m = beta_1 * m + (1 - beta_1) * g
    v = beta_2 * v + (1 - beta_2) * g * g
    alpha = lr * np.sqrt(1 - beta_2**t) / (1 - beta_1**t)
    return w - alpha * m / (np.sqrt(v) + eps), m, v


# --- the wrappers --------------------------------------------------------------------


def trust_ratio_update(w, u, lr, *, coef, eps, adapt=True):
    """The wrapped optimizer moved ``w`` by ``u`` at rate ``lr``: the rescaled new ``w``.

    trust = coef * ||w|| / (||u / lr|| + eps), 1 if either norm is 0 (LARS/LAMB's rule).
    """
    w_norm, u_norm = np.linalg.norm(w), np.linalg.norm(u)
    if not adapt or w_norm == 0 or u_norm == 0:
        return w + u
    return w + coef * w_norm / (u_norm / lr + eps) * u


def gradient_noise_stddev(t, *, eta, gamma):
    """Neelakantan et al. 2015: sigma_t = sqrt(eta / (1 + t)^gamma), ``t`` 0-based."""
    return np.sqrt(eta / (1.0 + t) ** gamma)


def lookahead_sync(fast, slow, step, *, k, alpha):
    """Zhang et al. 2019 after fast step number ``step`` (1-based); returns (fast, slow)."""
    if step % k:
        return fast, slow
    slow = slow + alpha * (fast - slow)
    return slow.copy(), slow


def agc(g, w, *, clipping, eps, clip=True):
    """Brock et al. 2021, unit-wise: one unit per index of the last axis for rank >= 2."""
    if not clip:
        return g
    if g.ndim <= 1:
        units_g, units_w = [g.reshape(-1)], [w.reshape(-1)]
    else:
        units_g = [g[..., j] for j in range(g.shape[-1])]
        units_w = [w[..., j] for j in range(w.shape[-1])]
    clipped = []
    for gu, wu in zip(units_g, units_w):
        max_norm = clipping * max(np.linalg.norm(wu), eps)
        g_norm = np.linalg.norm(gu)
        clipped.append(gu * (max_norm / g_norm) if g_norm > max_norm else gu)
    if g.ndim <= 1:
        return clipped[0].reshape(g.shape)
    return np.stack(clipped, axis=-1)


class GradientAccumulator:
    """Micro-batch gradients grouped into updates: update ``t`` (0-based) averages the
    gradients of the next ``steps(t)`` micro-batches (Goyal et al. 2017: the loss is the
    mean over the whole batch; Smith et al. 2018: the batch may grow with ``t``)."""

    def __init__(self, steps):
        self.steps = steps if callable(steps) else lambda t: steps
        self.updates, self.count, self.sums = 0, 0, None

    def add(self, grads):
        """Adds one micro-batch: ``(t, mean gradients)`` when update ``t`` is due, else None."""
        grads = [np.asarray(g, np.float64) for g in grads]
        self.sums = grads if self.count == 0 else [s + g for s, g in zip(self.sums, grads)]
        self.count += 1
        if self.count < self.steps(self.updates):
            return None
        due = self.updates, [s / self.count for s in self.sums]
        self.updates, self.count = self.updates + 1, 0
        return due


def clip_by_global_norm(grads, clip_norm):
    """Keras's ``global_clipnorm``: every gradient times min(1, clip_norm / global norm)."""
    norm = np.sqrt(sum(np.sum(g * g) for g in grads))
    return [g * min(1.0, clip_norm / norm) if norm > 0 else g for g in grads]


def sam_gradient(gradient, weights, rho):
    """Foret et al. 2021: the gradient at ``w + e``, ``e = rho g / ||g||`` with ``||g||`` over
    all weights; ``gradient(weights)`` returns the list of gradients at ``weights``."""
    g = gradient(weights)
    norm = np.sqrt(sum(np.sum(x * x) for x in g))
    scale = rho / norm if norm > 0 else 0.0
    return gradient([w + scale * x for w, x in zip(weights, g)])
