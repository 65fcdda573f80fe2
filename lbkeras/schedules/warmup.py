"""Warmup in front of any schedule: the learning rate ramps up before the schedule starts.

Goyal et al. (2017) scale the learning rate with the batch (0.1 at 256 -> 3.2 at 8k)
and, to avoid early divergence, raise it gradually (linearly, per step) from the base
rate to the scaled one over the first 5 epochs. They also compare a "constant"
warmup (a low rate, then a jump). LARS (You et al. 2017) uses a polynomial warmup,
then a polynomial decay of power 2 (``keras.optimizers.schedules.PolynomialDecay``).

References:
    Goyal et al., "Accurate, Large Minibatch SGD: Training ImageNet in 1 Hour", 2017.
    You, Gitman, Ginsburg, "Large Batch Training of Convolutional Networks", 2017.

Example:
    >>> decay = keras.optimizers.schedules.PolynomialDecay(3.2, 9000, 0.0, power=2.0)
    >>> schedule = Warmup(decay, warmup_steps=500)  # 0 -> 3.2 over 500 steps, then decay
"""

from __future__ import annotations

from typing import Any

import keras
from keras import ops

from lbkeras.checks import check_float, check_int, float_step
from lbkeras.schedules.constant import Constant

KINDS = ("linear", "constant", "polynomial")

LearningRateSchedule = keras.optimizers.schedules.LearningRateSchedule


@keras.saving.register_keras_serializable(package="lbkeras")
class Warmup(LearningRateSchedule):
    """Ramps the learning rate up for ``warmup_steps``, then follows ``after``.

    For ``step < warmup_steps``, with ``f = step / warmup_steps``:

    * ``kind="linear"`` (Goyal's gradual warmup): ``initial + (peak - initial) * f``;
    * ``kind="constant"``: ``initial``;
    * ``kind="polynomial"``: ``initial + (peak - initial) * f ** power``.

    For ``step >= warmup_steps``: ``after(s)``, where ``s = step - warmup_steps`` if
    ``shift`` (``after`` starts at its own step 0 when warmup ends, as LARS and MLPerf
    polynomial decay expect) and ``s = step`` if not (for boundaries given in global
    steps, like Goyal's epochs 30, 60, 80). During warmup ``after`` is evaluated at
    ``max(step - warmup_steps, 0)`` or ``step``, and its value is not used.

    ``peak`` is ``after``'s value at the step it sees when warmup ends: ``after(0)`` if
    ``shift``, ``after(warmup_steps)`` if not. So linear and polynomial warmups join
    ``after`` without a jump; the constant warmup jumps from ``initial`` to ``peak``.

    Args:
        after: the schedule that follows warmup: any ``LearningRateSchedule`` (lbkeras's
            or Keras's own) or a constant learning rate (a number).
        warmup_steps: length of the warmup in steps; 0 means no warmup.
        initial_learning_rate: the learning rate at step 0.
        kind: ``"linear"``, ``"constant"`` or ``"polynomial"``.
        power: the exponent of the polynomial warmup; only for ``kind="polynomial"``.
        shift: whether ``after`` sees ``step - warmup_steps`` (True) or ``step`` (False).

    Returns:
        A float32 scalar for each step.

    Raises:
        ValueError: negative steps or rates, an unknown ``kind``, a non-positive
            ``power``, or ``power != 1`` with a kind other than ``"polynomial"``.
        TypeError: ``after`` is neither a schedule nor a number, or ``shift`` not a bool.

    Example:
        >>> steps_per_epoch = 1281167 // 8192
        >>> goyal = Warmup(
        ...     lbkeras.schedules.StepDecay(3.2, [e * steps_per_epoch for e in (30, 60, 80)]),
        ...     warmup_steps=5 * steps_per_epoch, initial_learning_rate=0.1, shift=False)
    """

    def __init__(
        self,
        after: LearningRateSchedule | float,
        warmup_steps: int,
        initial_learning_rate: float = 0.0,
        kind: str = "linear",
        power: float = 1.0,
        shift: bool = True,
    ) -> None:
        super().__init__()
        if isinstance(after, LearningRateSchedule):
            self.after = after
            self._after = after
        else:
            self.after = check_float("after", after)
            self._after = Constant(self.after)
        self.warmup_steps = check_int("warmup_steps", warmup_steps)
        self.initial_learning_rate = check_float("initial_learning_rate", initial_learning_rate)
        if kind not in KINDS:
            raise ValueError(f"unknown warmup kind {kind!r}; choose one of: {', '.join(KINDS)}")
        self.kind = kind
        self.power = check_float("power", power, positive=True)
        if kind != "polynomial" and self.power != 1.0:
            raise ValueError(f"power={power} is only used with kind='polynomial', not {kind!r}")
        if not isinstance(shift, bool):
            raise TypeError(f"shift must be True or False, got {shift!r}")
        self.shift = shift

    def __call__(self, step: Any) -> Any:
        step = ops.convert_to_tensor(step)
        if self.warmup_steps == 0:
            return ops.cast(self._after(step), "float32")
        if self.shift:
            after_step = ops.maximum(step - self.warmup_steps, 0)
            peak_step = ops.zeros_like(step)
        else:
            after_step = step
            peak_step = ops.full_like(step, self.warmup_steps)
        after_lr = ops.cast(self._after(after_step), "float32")
        initial = ops.convert_to_tensor(self.initial_learning_rate, dtype="float32")
        if self.kind == "constant":
            warmup_lr = initial
        else:
            fraction = float_step(step) / float(self.warmup_steps)
            if self.kind == "polynomial":
                fraction = ops.power(fraction, self.power)
            peak = ops.cast(self._after(peak_step), "float32")
            warmup_lr = initial + (peak - initial) * fraction
        return ops.where(ops.less(step, self.warmup_steps), warmup_lr, after_lr)

    def get_config(self) -> dict[str, Any]:
        after = self.after
        if isinstance(after, LearningRateSchedule):
            after = keras.optimizers.schedules.serialize(after)
        return {
            "after": after,
            "warmup_steps": self.warmup_steps,
            "initial_learning_rate": self.initial_learning_rate,
            "kind": self.kind,
            "power": self.power,
            "shift": self.shift,
        }

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Warmup:
        config = dict(config)
        if isinstance(config["after"], dict):
            config["after"] = keras.optimizers.schedules.deserialize(config["after"])
        return cls(**config)
