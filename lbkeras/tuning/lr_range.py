"""The learning-rate range test: raise the rate at every step and watch the loss.

Smith trains for a few dozen steps with the learning rate growing exponentially from a
tiny value to a huge one (one step at each rate) and looks at the loss against the
rate. The curve is flat while the rate is too small to matter, falls where training
works, and then turns up and explodes. A good peak rate lies on the falling part, well
before the explosion. :func:`lr_range_test` runs the test on any compiled Keras model
(every optimizer of ``lbkeras.optimizers.OPTIMIZERS``, wrappers included, under any
``tf.distribute`` strategy), then puts the model and its optimizer back exactly as
they were: training afterwards is as if the test had never run.

The loss of each step is a single batch's, so it is noisy: it is smoothed with a
debiased exponential moving average (``avg = b avg + (1 - b) loss``, ``smoothed = avg /
(1 - b^(i+1))``), and the test stops once the smoothed loss exceeds ``stop_factor``
times the best one so far (or is not finite). The suggested rates (:data:`SUGGESTIONS`)
are read off the smoothed curve.

References:
    Smith, "Cyclical Learning Rates for Training Neural Networks", WACV 2017
    (arXiv:1506.01186, 2015).
    Smith, "A disciplined approach to neural network hyper-parameters: Part 1",
    arXiv:1803.09820, 2018.
    fastai's ``Learner.lr_find`` (Howard and Gugger, 2020): the smoothing, the stop rule
    and the "valley" suggestion.

Example:
    >>> import tensorflow as tf
    >>> x = np.random.default_rng(0).normal(size=(512, 4)).astype("float32")
    >>> dataset = tf.data.Dataset.from_tensor_slices((x, x.sum(axis=1))).batch(64).repeat()
    >>> keras.utils.set_random_seed(0)
    >>> model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
    >>> model.compile(optimizer=keras.optimizers.SGD(0.01), loss="mse")
    >>> test = lr_range_test(model, dataset, min_lr=1e-3, max_lr=100.0, num_steps=50)
    >>> 0.5 < test.diverged_at < 8  # SGD on this quadratic diverges above about 1
    True
    >>> test.recommended, test.recommended_learning_rate < test.diverged_at
    ('valley', True)
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from typing import Any

import keras
import numpy as np
from keras import ops

from lbkeras.checks import check_float, check_fraction, check_int, check_range
from lbkeras.optimizers import GradientAccumulation
from lbkeras.optimizers.wrapper import chain
from lbkeras.tuning.lr_ramp import MODES, LearningRateRamp

#: The suggested rates, by name; ``"valley"`` is the recommended one by default.
SUGGESTIONS = ("valley", "steepest", "minimum/10")
#: The fewest steps a test may run (and record before it stops) to suggest a rate.
MIN_STEPS = 5


@dataclasses.dataclass(frozen=True)
class RangeTest:
    """What a range test measured and suggests.

    Attributes:
        lrs: the rate of each step taken.
        losses: the loss of each step (the batch's, before its update).
        smoothed: the debiased moving average of ``losses``.
        suggestions: rate by name (:data:`SUGGESTIONS`).
        recommended: the name of the recommended suggestion.
        diverged_at: the rate at which the test stopped (the smoothed loss blew up, or
            was not finite); None if it ran all its steps.
    """

    lrs: tuple[float, ...]
    losses: tuple[float, ...]
    smoothed: tuple[float, ...]
    suggestions: dict[str, float]
    recommended: str
    diverged_at: float | None

    @property
    def recommended_learning_rate(self) -> float:
        """The recommended rate."""
        return self.suggestions[self.recommended]

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON types; a loss that is not finite becomes None."""
        return {
            "lrs": list(self.lrs),
            "losses": [_finite_or_none(v) for v in self.losses],
            "smoothed": [_finite_or_none(v) for v in self.smoothed],
            "suggestions": dict(self.suggestions),
            "recommended": self.recommended,
            "recommended_learning_rate": self.recommended_learning_rate,
            "diverged_at": self.diverged_at,
        }


def check_settings(
    min_lr: float,
    max_lr: float,
    num_steps: int,
    mode: str,
    smoothing: float,
    stop_factor: float,
    skip_start: float,
    recommend: str,
) -> None:
    """Raises ``ValueError`` (or ``TypeError``) naming the first bad setting and the fix."""
    check_float("min_lr", min_lr, positive=True)
    check_float("max_lr", max_lr, positive=True)
    if min_lr >= max_lr:
        raise ValueError(
            f"min_lr={min_lr:g} must be below max_lr={max_lr:g}: lower min_lr or raise max_lr"
        )
    check_int("num_steps", num_steps, positive=True)
    if num_steps < MIN_STEPS:
        raise ValueError(f"num_steps must be >= {MIN_STEPS} to draw a curve, got {num_steps}")
    if mode not in MODES:
        raise ValueError(f"mode={mode!r}; choose one of: {', '.join(MODES)}")
    check_fraction("smoothing", smoothing)
    check_range("stop_factor", stop_factor, 1, low_open=True)
    check_fraction("skip_start", skip_start)
    if recommend not in SUGGESTIONS:
        raise ValueError(f"recommend={recommend!r}; choose one of: {', '.join(SUGGESTIONS)}")


def smooth(losses: Sequence[float], smoothing: float = 0.98) -> np.ndarray:
    """The debiased exponential moving average of ``losses`` (Smith; fastai).

    Example:
        >>> smooth([1.0, 3.0], smoothing=0.5).tolist()  # avg 0.5, 1.75; / (1 - 0.5^(i+1))
        [1.0, 2.3333333333333335]
    """
    average, smoothed = 0.0, []
    for i, loss in enumerate(losses):
        average, value = _smoothing_step(average, float(loss), smoothing, i)
        smoothed.append(value)
    return np.array(smoothed, dtype=np.float64)


def _smoothing_step(average: float, loss: float, smoothing: float, i: int) -> tuple[float, float]:
    """The moving average after step ``i`` (0-based), and its debiased value."""
    average = smoothing * average + (1 - smoothing) * loss
    return average, average / (1 - smoothing ** (i + 1))


def should_stop(smoothed: float, best: float, stop_factor: float) -> bool:
    """The stop rule: the smoothed loss is not finite or exceeds ``stop_factor * best``."""
    return not math.isfinite(smoothed) or smoothed > stop_factor * best


def suggest(
    lrs: Sequence[float], smoothed: Sequence[float], skip_start: float = 0.1
) -> dict[str, float]:
    """The suggested rates of a smoothed loss curve, by name (:data:`SUGGESTIONS`).

    Only the finite points count, and ``steepest`` and ``valley`` skip the first
    ``skip_start`` fraction of them (where the debiased average is still mostly noise).

    * ``steepest``: the rate where the smoothed loss falls fastest against
      ``log(lr)`` (``np.gradient``; against ``lr`` itself the derivative would favour
      the largest rates, a known bug of some implementations).
    * ``valley`` (after fastai's): the longest run of consecutive steps over which the
      smoothed loss falls, and the first point of it half-way down, where the loss has
      made half of the run's drop. fastai takes the middle step of a longest decreasing
      *subsequence*; both the subsequence (which strings together the small dips of a
      flat, noisy start) and the middle step (which moves with where the slow drift
      of the plateau begins, decades of rates before the real descent) land too early.
    * ``minimum/10``: a tenth of the rate at the lowest smoothed loss.

    Example:
        >>> lrs = [1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1.0]
        >>> losses = [2.0, 1.9, 1.5, 0.6, 0.4, 0.35, 5.0]  # half of the drop: 1.175
        >>> {name: round(lr, 6) for name, lr in suggest(lrs, losses, skip_start=0).items()}
        {'valley': 0.001, 'steepest': 0.0001, 'minimum/10': 0.01}
    """
    lrs = np.asarray(lrs, dtype=np.float64)
    smoothed = np.asarray(smoothed, dtype=np.float64)
    finite = np.isfinite(smoothed)
    lrs, smoothed = lrs[finite], smoothed[finite]
    if len(lrs) < 2:
        raise ValueError(f"a curve needs 2 or more finite points, got {len(lrs)}")
    skip = min(int(skip_start * len(lrs)), len(lrs) - 2)
    kept_lrs, kept = lrs[skip:], smoothed[skip:]
    slopes = np.gradient(kept, np.log(kept_lrs))
    start, end = _longest_decrease(kept)
    half_way = start + int(np.argmax(kept[start : end + 1] <= (kept[start] + kept[end]) / 2))
    return {
        "valley": float(kept_lrs[half_way]),
        "steepest": float(kept_lrs[int(np.argmin(slopes))]),
        "minimum/10": float(lrs[int(np.argmin(smoothed))] / 10),
    }


def _longest_decrease(values: np.ndarray) -> tuple[int, int]:
    """First and last index of the first longest run of consecutive falling ``values``."""
    best, start = (0, 0), 0
    for i in range(1, len(values)):
        if not values[i] < values[i - 1]:
            start = i
        elif i - start > best[1] - best[0]:
            best = (start, i)
    return best


class _Recorder(keras.callbacks.Callback):
    """Keeps the loss of each range-test step (a Keras epoch) and applies the stop rule."""

    def __init__(self, micro_batches: int, smoothing: float, stop_factor: float) -> None:
        super().__init__()
        self.micro_batches, self.smoothing, self.stop_factor = (
            micro_batches,
            smoothing,
            stop_factor,
        )
        self.losses: list[float] = []
        self.stopped = False
        self._average, self._best, self._batches = 0.0, math.inf, 0

    def on_epoch_begin(self, epoch, logs=None) -> None:
        self._batches = 0

    def on_train_batch_end(self, batch, logs=None) -> None:
        self._batches += 1

    def on_epoch_end(self, epoch, logs=None) -> None:
        if self._batches < self.micro_batches:  # the input ran out during this step
            return
        # One step per epoch: the epoch's mean loss is this step's (Keras's per-batch
        # logs hold a running mean over the epoch instead).
        loss = float(logs["loss"])
        self._average, smoothed = _smoothing_step(
            self._average, loss, self.smoothing, len(self.losses)
        )
        self.losses.append(loss)
        if should_stop(smoothed, self._best, self.stop_factor):
            self.stopped = True
            self.model.stop_training = True
        self._best = min(self._best, smoothed)


def lr_range_test(
    model: keras.Model,
    dataset: Any,
    *,
    min_lr: float = 1e-7,
    max_lr: float = 10.0,
    num_steps: int = 100,
    mode: str = "exponential",
    smoothing: float = 0.98,
    stop_factor: float = 4.0,
    skip_start: float = 0.1,
    recommend: str = "valley",
    verbose: int = 0,
) -> RangeTest:
    """Runs the learning-rate range test on a compiled ``model``, then restores it.

    Each step is one optimizer update at the rate of a
    :class:`~lbkeras.tuning.lr_ramp.LearningRateRamp`, made by ``model.fit``; with
    gradient accumulation (a ``GradientAccumulation`` in the optimizer's chain) one step
    reads its ``steps`` micro-batches, and its loss is their mean. The ramp replaces the
    optimizer's rate or schedule during the test; afterwards the model's variables
    (weights, normalisation statistics, seeds, metrics), every optimizer variable (step
    counter, momenta, accumulators...), the original rate or schedule and the compiled
    train function are put back.

    Which suggestion to trust: ``valley`` (the default) reads the whole falling part of
    the curve and lands half-way down it, away from both the flat start and the
    blow-up, so one noisy point moves it little. ``steepest`` is a derivative of a noisy
    curve at one point, and ``minimum/10`` depends on the single lowest point, which
    moves with the blow-up and with the moving average's lag. fastai made its valley
    the default of ``lr_find`` for the same reasons (2021).

    Args:
        model: a compiled Keras model (built, or buildable from ``dataset``).
        dataset: what ``model.fit`` reads: a ``tf.data.Dataset`` or a distributed dataset,
            with at least ``num_steps`` steps of batches (repeat it).
        min_lr: the rate of the first step.
        max_lr: the rate of the last step.
        num_steps: the most steps to run.
        mode: how the rate grows: one of :data:`MODES`.
        smoothing: ``b`` of the moving average, in ``[0, 1)``.
        stop_factor: stop once the smoothed loss exceeds this times the best one, ``> 1``.
        skip_start: the fraction of the first points the suggestions skip, in ``[0, 1)``.
        recommend: the name of the recommended suggestion (:data:`SUGGESTIONS`).
        verbose: ``model.fit``'s verbosity.

    Returns:
        The curve and the suggestions.

    Raises:
        ValueError: a bad setting, an uncompiled model, or a test that stopped before
            :data:`MIN_STEPS` steps (the loss blew up at once: lower ``min_lr``) or ran
            out of data.
    """
    check_settings(min_lr, max_lr, num_steps, mode, smoothing, stop_factor, skip_start, recommend)
    if getattr(model, "optimizer", None) is None:
        raise ValueError("lr_range_test needs a compiled model: call model.compile first")
    optimizer = model.optimizer
    if not optimizer.built:
        _build(model, dataset)
    micro_batches = _micro_batches(optimizer)
    saved = _State(model)
    ramp = LearningRateRamp(
        min_lr, max_lr, num_steps, mode, start_step=int(ops.convert_to_numpy(optimizer.iterations))
    )
    recorder = _Recorder(micro_batches, smoothing, stop_factor)
    try:
        _replace_learning_rate(optimizer, ramp)
        model.steps_per_execution = 1  # one update per Keras epoch, one loss each
        model.make_train_function(force=True)  # trace the ramp in
        model.fit(
            dataset,
            epochs=num_steps,
            steps_per_epoch=micro_batches,
            callbacks=[recorder],
            shuffle=False,
            verbose=verbose,
        )
    finally:
        saved.restore()
    losses = recorder.losses
    if len(losses) < MIN_STEPS:
        how = "blew up" if recorder.stopped else "ran out of data"
        raise ValueError(
            f"the range test {how} after {len(losses)} steps (fewer than {MIN_STEPS}): "
            + ("lower min_lr" if recorder.stopped else f"give it {num_steps} steps of data")
        )
    lrs = [float(ramp(ramp.start_step + i)) for i in range(len(losses))]
    smoothed = smooth(losses, smoothing)
    return RangeTest(
        lrs=tuple(lrs),
        losses=tuple(losses),
        smoothed=tuple(float(v) for v in smoothed),
        suggestions=suggest(lrs, smoothed, skip_start),
        recommended=recommend,
        diverged_at=lrs[-1] if recorder.stopped else None,
    )


class _State:
    """What the test changes, saved: every variable's value, the optimizer's learning
    rate (a variable or a schedule), ``steps_per_execution``; :meth:`restore` puts it back."""

    def __init__(self, model: keras.Model) -> None:
        self.model = model
        seen: set[int] = set()
        self.variables = [
            v
            for v in [*model.variables, *model.metrics_variables, *model.optimizer.variables]
            if not (id(v) in seen or seen.add(id(v)))
        ]
        self.values = [ops.convert_to_numpy(v) for v in self.variables]
        self.learning_rate = chain(model.optimizer)[-1]._learning_rate
        self.steps_per_execution = model.steps_per_execution

    def restore(self) -> None:
        _replace_learning_rate(self.model.optimizer, self.learning_rate)
        for variable, value in zip(self.variables, self.values):
            variable.assign(value)
        self.model.steps_per_execution = self.steps_per_execution
        self.model.stop_training = False
        self.model.make_train_function(force=True)  # trace the original rate back in


def _replace_learning_rate(optimizer: keras.optimizers.Optimizer, learning_rate: Any) -> None:
    """Makes ``learning_rate`` (a schedule, or the optimizer's own rate variable) the rate
    of ``optimizer``'s whole chain.

    Not with the ``learning_rate`` setter: that untracks a rate variable replaced by a
    schedule, and refuses to put it back; the variable must stay tracked, in its place,
    for ``model.save`` and for the restored optimizer to be the same as before.
    """
    *wrappers, innermost = chain(optimizer)
    innermost._learning_rate = learning_rate  # a variable it tracks already stays tracked
    for wrapper in wrappers:
        if hasattr(wrapper, "_share"):  # lbkeras wrappers keep a shared reference
            wrapper._share("_learning_rate", learning_rate)


def _micro_batches(optimizer: keras.optimizers.Optimizer) -> int:
    """Batches ``fit`` reads per optimizer update: a ``GradientAccumulation``'s steps."""
    count = 1
    for member in chain(optimizer):
        if isinstance(member, GradientAccumulation):
            count *= int(ops.convert_to_numpy(member.steps_for_next_update()))
    return count


def _build(model: keras.Model, dataset: Any) -> None:
    """Builds the model's optimizer (and metrics) before the test, from ``dataset``'s spec,
    so that restoring it leaves it as a fresh build would."""
    from lbkeras.distribute import keras_compat

    spec = getattr(dataset, "element_spec", None)
    if spec is None:
        raise ValueError("build the model's optimizer first (or pass a tf.data.Dataset)")
    with model.distribute_strategy.scope():
        keras_compat.prebuild(model, spec)


def _finite_or_none(value: float) -> float | None:
    return value if math.isfinite(value) else None
