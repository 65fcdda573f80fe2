"""The experiment config: everything one training run needs, frozen.

``tools/train.py`` turns absl flags into an :class:`ExperimentConfig`; Python users build
one directly and call :func:`lbkeras.training.run`. Library code never reads flags.

Example:
    >>> config = ExperimentConfig(model="mnist1d_cnn", dataset="mnist1d",
    ...                           global_batch_size=4096, epochs=30, model_dir="/tmp/run1")
    >>> results = lbkeras.training.run(config)
"""

from __future__ import annotations

import dataclasses
import json
import math
from typing import Any

from lbkeras.checks import check_float, check_int
from lbkeras.optimizers.trust_ratio import SCALES as TRUST_RATIO_SCALES

LR_SCALING = ("linear", "sqrt", "none", "auto")
MIXED_PRECISION = ("none", "float16", "bfloat16")
WARMUP_KINDS = ("linear", "constant", "polynomial")


@dataclasses.dataclass(frozen=True)
class ExperimentConfig:
    """One training run. Defaults: the MNIST-1D large-batch recipe (LARS at batch 2048).

    Learning rate: ``base_learning_rate`` is tuned for ``base_batch_size`` and scaled to
    ``global_batch_size`` by ``lr_scaling``; it is then the peak of the schedule, reached
    after ``warmup_epochs`` of warmup from ``warmup_initial_learning_rate``.
    Length: ``train_steps`` if set, else ``epochs`` (fractions allowed).
    Wrappers (0 = off): ``agc_clipping`` (AdaptiveGradientClipping), ``gradient_noise_eta``
    (GradientNoise), ``trust_ratio`` (TrustRatio's coefficient; ``trust_ratio_scale``
    "update" or "gradient" places the ratio as LAMB or LARS do), ``lookahead_sync_period``
    (Lookahead), applied in that order around the optimizer (Lookahead outermost).
    ``ghost_batch_size`` turns the model's batch norms into ghost ones (0 = off).
    ``accumulation_steps`` > 1 accumulates gradients (GradientAccumulation, outermost):
    ``global_batch_size`` is then the micro-batch and the learning-rate rule uses the
    effective batch ``global_batch_size * accumulation_steps``. ``sam_rho`` > 0 trains
    with sharpness-aware minimisation.
    """

    model: str = "mnist1d_cnn"
    dataset: str = "mnist1d"
    global_batch_size: int = 2048
    base_learning_rate: float = 1.0
    base_batch_size: int = 256
    lr_scaling: str = "linear"
    optimizer: str = "lars"
    momentum: float = 0.9
    weight_decay: float = 1e-3
    schedule: str = "polynomial"
    schedule_power: float = 2.0
    decay_epochs: tuple[float, ...] = ()
    decay_rate: float = 0.1
    end_learning_rate: float = 0.0
    warmup_epochs: float = 5.0
    warmup_kind: str = "linear"
    warmup_initial_learning_rate: float = 0.0
    epochs: float = 25.0
    train_steps: int = 0
    label_smoothing: float = 0.0
    trust_ratio: float = 0.0
    trust_ratio_scale: str = "update"
    gradient_noise_eta: float = 0.0
    agc_clipping: float = 0.0
    lookahead_sync_period: int = 0
    ghost_batch_size: int = 0
    accumulation_steps: int = 1
    sam_rho: float = 0.0
    strategy: str = "default"
    devices: tuple[str, ...] = ()
    tpu: str = ""
    mixed_precision: str = "none"
    jit_compile: bool = False
    model_dir: str = ""
    data_dir: str = ""
    seed: int = 0
    resume: bool = True
    verbose: int = 1
    eval_every_epochs: int = 0
    model_options: dict[str, Any] = dataclasses.field(default_factory=dict)
    dataset_options: dict[str, Any] = dataclasses.field(default_factory=dict)
    optimizer_options: dict[str, Any] = dataclasses.field(default_factory=dict)

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Raises ``ValueError`` naming the first bad field and what it must be."""
        check_int("global_batch_size", self.global_batch_size, positive=True)
        check_int("base_batch_size", self.base_batch_size, positive=True)
        check_float("base_learning_rate", self.base_learning_rate, positive=True)
        check_float("weight_decay", self.weight_decay)
        check_float("warmup_epochs", self.warmup_epochs)
        check_float("warmup_initial_learning_rate", self.warmup_initial_learning_rate)
        check_float("end_learning_rate", self.end_learning_rate)
        check_float("decay_rate", self.decay_rate, positive=True)
        check_float("schedule_power", self.schedule_power, positive=True)
        check_int("train_steps", self.train_steps)
        check_float("trust_ratio", self.trust_ratio)
        check_float("gradient_noise_eta", self.gradient_noise_eta)
        check_float("agc_clipping", self.agc_clipping)
        check_int("lookahead_sync_period", self.lookahead_sync_period)
        check_int("ghost_batch_size", self.ghost_batch_size)
        check_int("accumulation_steps", self.accumulation_steps, positive=True)
        check_float("sam_rho", self.sam_rho)
        check_int("seed", self.seed)
        if not (self.train_steps or (math.isfinite(self.epochs) and self.epochs > 0)):
            raise ValueError(f"epochs must be > 0 (or set train_steps), got {self.epochs!r}")
        if not 0 <= self.momentum < 1:
            raise ValueError(f"momentum must be in [0, 1), got {self.momentum!r}")
        if not 0 <= self.label_smoothing < 1:
            raise ValueError(f"label_smoothing must be in [0, 1), got {self.label_smoothing!r}")
        for field, value, choices in (
            ("lr_scaling", self.lr_scaling, LR_SCALING),
            ("mixed_precision", self.mixed_precision, MIXED_PRECISION),
            ("warmup_kind", self.warmup_kind, WARMUP_KINDS),
            ("trust_ratio_scale", self.trust_ratio_scale, TRUST_RATIO_SCALES),
        ):
            if value not in choices:
                raise ValueError(f"{field}={value!r}; choose one of: {', '.join(choices)}")
        if list(self.decay_epochs) != sorted(set(self.decay_epochs)):
            raise ValueError(f"decay_epochs must be increasing, got {list(self.decay_epochs)}")

    def to_json(self) -> str:
        """The resolved config as JSON (written to ``model_dir/config.json``)."""
        return json.dumps(dataclasses.asdict(self), indent=2, sort_keys=True)

    def replace(self, **changes: Any) -> ExperimentConfig:
        """A copy with ``changes`` applied (and validated)."""
        return dataclasses.replace(self, **changes)
