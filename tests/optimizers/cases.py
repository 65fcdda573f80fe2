"""The conformance cases: every lbkeras optimizer and wrapper, some compositions, and for
each an independent NumPy reference built from ``tests/optimizers/reference.py``.

Backend-independent (no TensorFlow): ``conformance_test.py`` runs the cases under
TensorFlow strategies and XLA, ``conformance_reference_test.py`` against the references
on every backend.
"""

from __future__ import annotations

from collections.abc import Callable

import keras
import numpy as np

from lbkeras.monitoring import GradientStatistics
from lbkeras.optimizers import (
    LAMB,
    LARS,
    AdaptiveGradientClipping,
    AdaScale,
    GradientAccumulation,
    GradientNoise,
    Lookahead,
    PiecewiseConstantSteps,
    TrustRatio,
)
from tests.optimizers import reference

SGD = keras.optimizers.SGD
NOISE_SEED = 0

CASES: dict[str, Callable[[], keras.optimizers.Optimizer]] = {
    "lars": lambda: LARS(1.0, momentum=0.9, trust_coefficient=0.1),
    "lamb": lambda: LAMB(0.2),
    "trust_ratio": lambda: TrustRatio(SGD(0.5, momentum=0.9), trust_coefficient=0.1),
    "trust_ratio(scale=gradient)": lambda: TrustRatio(
        SGD(1.0, momentum=0.9), trust_coefficient=0.1, scale="gradient"
    ),
    "gradient_noise": lambda: GradientNoise(SGD(0.05, momentum=0.9), eta=0.1, seed=NOISE_SEED),
    "lookahead": lambda: Lookahead(SGD(0.05, momentum=0.9)),
    "agc": lambda: AdaptiveGradientClipping(SGD(0.05, momentum=0.9), 0.3, exclude="bias"),
    "trust_ratio(gradient_noise(sgd))": lambda: TrustRatio(
        GradientNoise(SGD(0.5, momentum=0.9), seed=NOISE_SEED), trust_coefficient=0.1
    ),
    "lookahead(lamb)": lambda: Lookahead(LAMB(0.2)),
    "agc(lookahead(sgd))": lambda: AdaptiveGradientClipping(
        Lookahead(SGD(0.05, momentum=0.9)), 0.3, exclude="bias"
    ),
    # 1 micro-batch per update for 3 updates, then 2.
    "gradient_accumulation(lookahead(sgd))": lambda: GradientAccumulation(
        Lookahead(SGD(0.1, momentum=0.9)), PiecewiseConstantSteps([3], [1, 2])
    ),
    # The statistics change nothing; AdaScale's gain comes from the 2 micro-batches.
    "gradient_accumulation(gradient_statistics(sgd))": lambda: GradientAccumulation(
        GradientStatistics(SGD(0.1, momentum=0.9), every_steps=2), 2
    ),
    "gradient_accumulation(adascale(sgd))": lambda: GradientAccumulation(
        AdaScale(SGD(0.05, momentum=0.9), ema_decay=0.5), 2
    ),
}
NOISY = {"gradient_noise", "trust_ratio(gradient_noise(sgd))"}
# The gain is measured from the small gradients, which another split of the batch
# changes (2 replicas x 2 micro-batches are not 2 micro-batches): no equality there.
SPLIT_DEPENDENT = {"gradient_accumulation(adascale(sgd))"}
PATHS = ("dense/kernel", "dense/bias")  # the variables of Dense(1) on 4 inputs


def data() -> tuple[np.ndarray, np.ndarray]:
    """Least squares: 512 examples of 4 features, a linear target."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(512, 4)).astype(np.float32)
    y = (x @ np.array([[1.0], [-2.0], [3.0], [0.5]]) + 1.0).astype(np.float32)
    return x, y


# --- NumPy references, composed as the wrappers are -----------------------------------
# Each has update(i, w, g, t): variable i's new value after update number t (0-based),
# given its value w and gradient g; it keeps its own per-variable state.


class Sgd:
    def __init__(self, lr, momentum=0.0):
        self.lr, self.momentum, self.m = lr, momentum, {}

    def update(self, i, w, g, t):
        w, self.m[i] = reference.sgd_step(w, g, self.m.get(i, 0.0), self.lr, momentum=self.momentum)
        return w


class Lars:
    def __init__(self, lr, momentum, coef, eps=1e-9):
        self.lr, self.momentum, self.coef, self.eps, self.v = lr, momentum, coef, eps, {}

    def update(self, i, w, g, t):
        w, self.v[i] = reference.lars_step(
            w, g, self.v.get(i, 0.0), self.lr, momentum=self.momentum, eta=self.coef, beta=0.0,
            eps=self.eps,
        )  # fmt: skip
        return w


class Lamb:
    def __init__(self, lr):
        self.lr, self.moments = lr, {}

    def update(self, i, w, g, t):
        m, v = self.moments.get(i, (0.0, 0.0))
        w, m, v = reference.lamb_step(
            w, g, m, v, t + 1, self.lr, beta_1=0.9, beta_2=0.999, eps=1e-6, lam=0.0
        )
        self.moments[i] = (m, v)
        return w


class TrustRatioRef:
    def __init__(self, inner, coef):
        self.inner, self.coef = inner, coef

    def update(self, i, w, g, t):
        u = self.inner.update(i, w, g, t) - w
        return reference.trust_ratio_update(w, u, innermost(self).lr, coef=self.coef, eps=0.0)


class NoiseRef:
    """The noise is Keras's seeded stream (one draw per variable per update, in order),
    scaled by the paper's schedule; only the stream comes from Keras."""

    def __init__(self, inner, eta, gamma=0.55, seed=NOISE_SEED):
        self.inner, self.eta, self.gamma = inner, eta, gamma
        self.stream = keras.random.SeedGenerator(seed)

    def update(self, i, w, g, t):
        z = keras.ops.convert_to_numpy(keras.random.normal(w.shape, seed=self.stream))
        sigma = reference.gradient_noise_stddev(t, eta=self.eta, gamma=self.gamma)
        return self.inner.update(i, w, g + sigma * z.astype(np.float64), t)


class LookaheadRef:
    def __init__(self, inner, k=6, alpha=0.5):
        self.inner, self.k, self.alpha, self.slow = inner, k, alpha, {}

    def update(self, i, w, g, t):
        slow = self.slow.get(i, w)
        fast, self.slow[i] = reference.lookahead_sync(
            self.inner.update(i, w, g, t), slow, t + 1, k=self.k, alpha=self.alpha
        )
        return fast


class AgcRef:
    def __init__(self, inner, clipping, eps=1e-3):
        self.inner, self.clipping, self.eps = inner, clipping, eps

    def update(self, i, w, g, t):
        clip = "bias" not in PATHS[i]
        g = reference.agc(g, w, clipping=self.clipping, eps=self.eps, clip=clip)
        return self.inner.update(i, w, g, t)


class AccumulationRef:
    def __init__(self, inner, steps):
        self.inner, self.accumulator = inner, reference.GradientAccumulator(steps)


class AdaScaleRef:
    """Johnson et al. 2020 on ``steps`` micro-batches an update: the gain from the smoothed
    unbiased |G|^2 and tr(Sigma)/b (McCandlish et al.), each a debiased EMA."""

    def __init__(self, inner, steps, decay):
        self.inner, self.steps, self.decay = inner, steps, decay
        self.micro, self.ema, self.weight = [], np.zeros(2), 0.0

    def add(self, grads):
        """One micro-batch: ``(t, mean gradients, gain)`` when an update is due, else None."""
        self.micro.append([np.asarray(g, np.float64) for g in grads])
        if len(self.micro) < self.steps:
            return None
        n = len(self.micro)
        local = np.mean([sum(np.sum(g * g) for g in grads) for grads in self.micro])
        mean = [sum(grads[i] for grads in self.micro) / n for i in range(len(grads))]
        total = sum(np.sum(g * g) for g in mean)
        estimates = np.array([(n * total - local) / (n - 1), (local - total) * n / (n - 1)])
        self.ema = self.decay * self.ema + (1 - self.decay) * estimates
        self.weight = self.decay * self.weight + (1 - self.decay)
        g2, variance = self.ema / self.weight
        gain = np.clip((variance + g2) / (variance / n + g2), 1, n) if g2 > 0 else n
        self.micro = []
        self.updates = getattr(self, "updates", -1) + 1
        return self.updates, mean, gain


def innermost(ref):
    while hasattr(ref, "inner"):
        ref = ref.inner
    return ref


REFERENCES = {
    "lars": lambda: Lars(1.0, 0.9, 0.1),
    "lamb": lambda: Lamb(0.2),
    "trust_ratio": lambda: TrustRatioRef(Sgd(0.5, 0.9), 0.1),
    "trust_ratio(scale=gradient)": lambda: Lars(1.0, 0.9, 0.1, eps=0.0),  # LARS exactly
    "gradient_noise": lambda: NoiseRef(Sgd(0.05, 0.9), eta=0.1),
    "lookahead": lambda: LookaheadRef(Sgd(0.05, 0.9)),
    "agc": lambda: AgcRef(Sgd(0.05, 0.9), 0.3),
    "trust_ratio(gradient_noise(sgd))": lambda: TrustRatioRef(NoiseRef(Sgd(0.5, 0.9), 0.01), 0.1),
    "lookahead(lamb)": lambda: LookaheadRef(Lamb(0.2)),
    "agc(lookahead(sgd))": lambda: AgcRef(LookaheadRef(Sgd(0.05, 0.9)), 0.3),
    "gradient_accumulation(lookahead(sgd))": lambda: AccumulationRef(
        LookaheadRef(Sgd(0.1, 0.9)), lambda t: 1 if t < 3 else 2
    ),
    "gradient_accumulation(gradient_statistics(sgd))": lambda: AccumulationRef(Sgd(0.1, 0.9), 2),
    "gradient_accumulation(adascale(sgd))": lambda: AdaScaleRef(Sgd(0.05, 0.9), 2, decay=0.5),
}


def reference_step(ref, weights: list, grads: list, step: int) -> list:
    """The weights after micro-batch number ``step`` (0-based), all float64."""
    if isinstance(ref, AdaScaleRef):
        due = ref.add(grads)
        if due is None:
            return weights
        t, grads, gain = due
        sgd = innermost(ref)
        lr, sgd.lr = sgd.lr, sgd.lr * gain  # the step of rate gain x lr (constant: tau unused)
        weights = [ref.inner.update(i, w, g, t) for i, (w, g) in enumerate(zip(weights, grads))]
        sgd.lr = lr
        return weights
    if isinstance(ref, AccumulationRef):
        due = ref.accumulator.add(grads)
        if due is None:
            return weights
        t, grads = due
        return [ref.inner.update(i, w, g, t) for i, (w, g) in enumerate(zip(weights, grads))]
    return [ref.update(i, w, g, step) for i, (w, g) in enumerate(zip(weights, grads))]


def mse_gradients(weights: list, x: np.ndarray, y: np.ndarray) -> list:
    """Gradients of Keras's mean squared error of ``x @ kernel + bias`` against ``y``."""
    kernel, bias = (np.asarray(w, np.float64) for w in weights)
    residual = x.astype(np.float64) @ kernel + bias - y
    scale = 2.0 / residual.size
    return [scale * x.T.astype(np.float64) @ residual, scale * residual.sum(axis=0)]
