"""The experiment config: every setting of one training run, defined once.

Each field of :class:`ExperimentConfig` is declared with :func:`setting`, which holds
its default, its help text and, where it has them, its choices (imported from the
module that owns the concept: the scaling rules from ``lbkeras.scaling``, the
strategies from ``lbkeras.distribute``...). Nothing else spells a setting out again:
``lbkeras.training.config_flags`` generates the absl flags of ``lbkeras-train`` from
these fields (flag name = field name, same default, help and choices), and a run's
``config.json`` turns back into the same flags (:meth:`ExperimentConfig.to_flags`) or
is read whole (``--config=config.json``).

Why a frozen dataclass with field metadata, and not ``ml_collections.ConfigDict``
(flax, big_vision) or argparse (timm): a dataclass is typed, immutable and validated
once in ``__post_init__``, Python users build it with keywords and get IDE help, and
absl (which this project's tools use) needs only name, type, default and help to
define a flag. ``ConfigDict`` would add a dependency and a second, untyped way to
spell every setting.

Example:
    >>> config = ExperimentConfig(global_batch_size=4096, epochs=30)
    >>> config.replace(epochs=10).epochs
    10
    >>> ExperimentConfig(lr_scaling="cubic")
    Traceback (most recent call last):
    ...
    ValueError: lr_scaling='cubic'; choose one of: linear, sqrt, malladi, none, auto
"""

from __future__ import annotations

import dataclasses
import json
import math
import typing
from collections.abc import Sequence
from typing import Any

from lbkeras.checks import check_float, check_fraction, check_int
from lbkeras.distribute.strategy import STRATEGIES, check_devices
from lbkeras.optimizers.trust_ratio import SCALES as TRUST_RATIO_SCALES
from lbkeras.scaling import BETA_2_RULES, WEIGHT_DECAY_RULES
from lbkeras.scaling import RULES as LR_SCALING_RULES
from lbkeras.schedules.batch_size import BATCH_SIZE_SCHEDULES
from lbkeras.schedules.warmup import KINDS as WARMUP_KINDS
from lbkeras.training.precision import MIXED_PRECISION_POLICIES

#: Settings that change how a run behaves but not what it computes: a run resumed with
#: other values of these is the same run, and they are not hyper-parameters.
RUN_BEHAVIOUR = (
    "model_dir",
    "data_dir",
    "resume",
    "verbose",
    "backup_every_seconds",
    "divergence_factor",
    "deterministic",
)

#: The decays after warmup that the trainer builds (``lbkeras.training.recipe``).
SCHEDULES = ("polynomial", "linear", "cosine", "step", "rsqrt", "constant")


#: The topics of the settings (each field's ``group``): ``--help`` lists the flags by topic,
#: in the order the topics first appear in :class:`ExperimentConfig`.
EXPERIMENT = "experiment"
BATCH = "batch and learning rate"
OPTIMIZER = "optimizer"
SCHEDULE = "schedule"
LENGTH = "length"
AIDS = "large-batch aids"
MEASURING = "measuring"
DISTRIBUTION = "distribution"
OUTPUTS = "outputs"


def setting(
    default: Any,
    help: str,  # noqa: A002  (absl's word)
    *,
    choices: Sequence[str] | None = None,
    group: str = "",
) -> Any:
    """A config field: its default, help text, choices and topic (``dataclasses.field``
    metadata; a tool's own settings may leave the topic to the tool)."""
    metadata = {
        "help": help,
        "choices": tuple(choices) if choices is not None else None,
        "group": group,
    }
    if isinstance(default, dict):
        return dataclasses.field(default_factory=lambda: dict(default), metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


@dataclasses.dataclass(frozen=True)
class ExperimentConfig:
    """One training run. Defaults: the MNIST-1D large-batch recipe (LARS at batch 2048).

    Learning rate: ``base_learning_rate`` is tuned for ``base_batch_size`` and scaled to
    the effective global batch by ``lr_scaling``; it is then the peak of the schedule,
    reached after ``warmup_epochs`` of warmup. Length: ``train_steps`` if set, else
    ``train_tokens`` (language models), else ``epochs`` passes over the training data,
    ``round(epochs * N / B)`` steps. Wrappers
    (0 = off) go around the optimizer in this order: ``agc``, ``gradient_noise_eta``,
    ``trust_ratio``, ``lookahead``, and gradient accumulation outermost. See each
    field's help (``lbkeras-train --help``, by topic) for the rest.
    """

    model: str = setting("mnist1d_cnn", "Model name (lbkeras.models.names()).", group=EXPERIMENT)
    model_options: dict[str, Any] = setting(
        {},
        'JSON object of model arguments, e.g. {"zero_init_residual_gamma": true}.',
        group=EXPERIMENT,
    )
    dataset: str = setting(
        "mnist1d", "Dataset name (lbkeras.data.names(), or tfds:NAME).", group=EXPERIMENT
    )
    dataset_options: dict[str, Any] = setting(
        {},
        'JSON object of dataset arguments, e.g. {"augment": "mixup"}.',
        group=EXPERIMENT,
    )
    data_dir: str = setting(
        "", "Folder of the dataset (default: the dataset's own).", group=EXPERIMENT
    )
    global_batch_size: int = setting(
        2048,
        "Examples per step, summed over all replicas; with a --batch_schedule, the largest "
        "batch of the run (what memory must hold), the one --base_learning_rate is scaled to "
        "for the schedule's peak.",
        group=BATCH,
    )
    batch_schedule: str = setting(
        "constant",
        "How the global batch grows with the examples seen (lbkeras.schedules.batch_size): "
        "constant; steps (changes=[[examples, batch], ...] or passes=[[passes, batch], ...]); "
        "ramp (start_batch_size, ramp_examples, and increment or doubling: NeMo's "
        "rampup_batch_size); seesaw (batch_size, boundaries in examples: Meterez et al. 2025, "
        "with --schedule=constant); adaptive (batch_size, check_every examples, threshold: "
        "x 2 when the measured B_simple reaches threshold x the batch; needs "
        "--monitor_every_steps and 2 or more replicas). At each change every hyper-parameter "
        "transfers: the "
        "learning rate by --lr_scaling, beta_2 by --beta_2_rule, the weight decay by "
        "--weight_decay_rule. The learning-rate schedule is keyed on examples seen.",
        choices=tuple(BATCH_SIZE_SCHEDULES.names()),
        group=BATCH,
    )
    batch_schedule_options: dict[str, Any] = setting(
        {},
        'JSON object of the batch schedule\'s arguments, e.g. {"start_batch_size": 256, '
        '"ramp_examples": 96000, "doubling": true} (batch_size, or the max_batch_size of seesaw '
        "and adaptive, defaults to --global_batch_size; the replicas and the data size are "
        "filled in; adaptive checks once a pass unless check_every says otherwise).",
        group=BATCH,
    )
    base_learning_rate: float = setting(
        0.0,
        "Learning rate tuned at --base_batch_size; 0: the optimizer's default "
        "(lbkeras.optimizers.default_learning_rate; LARS: 1.0 per 256, the Adam family: "
        "1e-3 per 256, SGD: 0.1 per 256), scaled to --base_batch_size by --lr_scaling.",
        group=BATCH,
    )
    base_batch_size: int = setting(
        256, "Batch size --base_learning_rate was tuned for.", group=BATCH
    )
    lr_scaling: str = setting(
        "linear",
        "How the learning rate grows with the batch (auto: sqrt for adaptive optimizers, "
        "linear otherwise; malladi: sqrt, and Adam's 1 - beta times the batch ratio k, "
        "epsilon / sqrt(k)).",
        choices=LR_SCALING_RULES,
        group=BATCH,
    )
    beta_2_rule: str = setting(
        "none",
        "How beta_2 transfers when a --batch_schedule changes the batch by k (half_life: "
        "beta_2^k, the same half-life in examples, Marek et al. 2025).",
        choices=BETA_2_RULES,
        group=BATCH,
    )
    weight_decay_rule: str = setting(
        "none",
        "How the weight decay transfers when a --batch_schedule changes the batch (timescale: "
        "keep the AdamW timescale B / (lr wd N), Bergsma et al. 2025; none: decoupled decay "
        "follows the rate).",
        choices=WEIGHT_DECAY_RULES,
        group=BATCH,
    )
    optimizer: str = setting(
        "lars",
        "Optimizer name: any of lbkeras.optimizers.names(), wrappers included (their inner "
        'optimizer from --optimizer_options, e.g. {"optimizer": "lamb", "sync_period": 5}).',
        group=OPTIMIZER,
    )
    optimizer_options: dict[str, Any] = setting(
        {}, "JSON object of optimizer arguments.", group=OPTIMIZER
    )
    momentum: float = setting(
        0.9, "Momentum of the optimizers that take one (LARS, SGD).", group=OPTIMIZER
    )
    weight_decay: float = setting(
        1e-3,
        "Weight decay: coupled for LARS/LAMB, decoupled (Keras) for the others.",
        group=OPTIMIZER,
    )
    schedule: str = setting("polynomial", "Decay after warmup.", choices=SCHEDULES, group=SCHEDULE)
    schedule_power: float = setting(2.0, "Power of the polynomial decay (LARS: 2).", group=SCHEDULE)
    decay_epochs: tuple[float, ...] = setting(
        (),
        "Epochs of the step decay, e.g. 30,60,80 (Goyal et al.).",
        group=SCHEDULE,
    )
    decay_rate: float = setting(0.1, "Factor of the step decay at each boundary.", group=SCHEDULE)
    end_learning_rate: float = setting(
        0.0, "Learning rate at the end of the decay.", group=SCHEDULE
    )
    warmup_epochs: float = setting(5.0, "Epochs of warmup before the decay.", group=SCHEDULE)
    warmup_kind: str = setting(
        "linear",
        "Warmup shape (Goyal et al.: linear, 'gradual').",
        choices=WARMUP_KINDS,
        group=SCHEDULE,
    )
    warmup_initial_learning_rate: float = setting(0.0, "Learning rate at step 0.", group=SCHEDULE)
    epochs: float = setting(
        25.0,
        "Passes over the training data: round(epochs * N / B) steps (fractions allowed).",
        group=LENGTH,
    )
    train_steps: int = setting(
        0, "Training length in optimizer steps; 0: use --train_tokens or --epochs.", group=LENGTH
    )
    train_tokens: int = setting(
        0,
        "Training length in tokens, for language models (dataset text): round(tokens / "
        "(B x context)) steps, a step being B sequences of context tokens; 0: use --epochs.",
        group=LENGTH,
    )
    label_smoothing: float = setting(0.0, "Label smoothing of the cross-entropy.", group=EXPERIMENT)
    trust_ratio: float = setting(
        0.0,
        "Wrap the optimizer in TrustRatio with this trust coefficient; 0: off.",
        group=AIDS,
    )
    trust_ratio_scale: str = setting(
        "update",
        "Where --trust_ratio acts: on the optimizer's step (as LAMB) or on the gradient it "
        "sees (as LARS: around momentum it is LARS).",
        choices=TRUST_RATIO_SCALES,
        group=AIDS,
    )
    gradient_noise_eta: float = setting(
        0.0,
        "Annealed Gaussian gradient noise eta (Neelakantan et al.: 0.01, 0.3 or 1.0); 0: off.",
        group=AIDS,
    )
    agc: float = setting(
        0.0,
        "Adaptive gradient clipping threshold (Brock et al.: 0.01 to 0.16); 0: off.",
        group=AIDS,
    )
    lookahead: int = setting(
        0,
        "Wrap the optimizer in Lookahead with this sync period (Zhang et al.: 6); 0: off.",
        group=AIDS,
    )
    accumulation_steps: int = setting(
        1,
        "Accumulate gradients over this many micro-batches of --global_batch_size per update "
        "(the learning-rate rule uses the effective batch); 1: off.",
        group=AIDS,
    )
    adascale: bool = setting(
        False,
        "AdaScale (Johnson et al. 2020): train the base recipe (its schedule and length at "
        "--base_batch_size, --base_learning_rate unscaled: --lr_scaling is not used) at the "
        "effective batch, each step's rate the gain times the base schedule at tau; training "
        "ends at the first loop end where tau reaches the base run's length. Needs 2 or more "
        "small-batch gradients per step (replicas x --accumulation_steps).",
        group=AIDS,
    )
    sam_rho: float = setting(
        0.0,
        "Sharpness-aware minimisation radius (Foret et al.: 0.05); 0: off.",
        group=AIDS,
    )
    ghost_batch_size: int = setting(
        0,
        "Ghost batch norm: batch statistics over virtual batches of this size (Hoffer et al.: "
        "128); 0: off.",
        group=AIDS,
    )
    precise_bn_examples: int = setting(
        0,
        "Precise batch norm (Wu and Johnson 2021): before every evaluation, set the batch-norm "
        "statistics to the average over this many training examples (the first ones, in "
        "batches of one replica's batch) at the current weights, instead of the moving "
        "averages of past weights; for runs of few, large steps. 0: off.",
        group=AIDS,
    )
    sync_batch_norm: bool = setting(
        False,
        "Batch norm statistics over the global batch (all replicas and workers) in every "
        "model: N workers then train as one process with the same global batch.",
        group=AIDS,
    )
    monitor_every_steps: int = setting(
        0,
        "Measure the gradient noise scale (every step) and write it, the gradient, update "
        "and weight norms and the trust ratios per variable to TensorBoard every this many "
        "optimizer steps; 0: off. The noise scale needs 2 or more small-batch gradients per "
        "step: several replicas or --accumulation_steps.",
        group=MEASURING,
    )
    strategy: str = setting(
        "default", "tf.distribute strategy.", choices=STRATEGIES, group=DISTRIBUTION
    )
    devices: tuple[str, ...] = setting(
        (),
        "Devices for --strategy=mirrored or one_device: comma-separated names (/gpu:0,/gpu:1), "
        "or for mirrored a replica count N: the first N GPUs, or on a machine without GPUs N "
        "logical CPU devices (--devices=2 tries mirrored on a laptop, as the tests do). "
        "Default: all GPUs, else the CPU.",
        group=DISTRIBUTION,
    )
    tpu: str = setting(
        "", "TPU name or address for --strategy=tpu ('local' on a TPU VM).", group=DISTRIBUTION
    )
    mixed_precision: str = setting(
        "none",
        "Mixed-precision policy.",
        choices=tuple(MIXED_PRECISION_POLICIES),
        group=DISTRIBUTION,
    )
    jit_compile: bool = setting(False, "XLA-compile the train step.", group=DISTRIBUTION)
    deterministic: bool = setting(
        True,
        "Run TensorFlow's ops one at a time (one inter-op thread; each op still uses every "
        "core), so that the same config and seed give bit-identical weights whatever else "
        "runs on the machine (lbkeras.determinism; cost: benchmarks/determinism_cost.py).",
        group=DISTRIBUTION,
    )
    model_dir: str = setting(
        "",
        "Folder for logs, backups, the model and results.",
        group=OUTPUTS,
    )
    seed: int = setting(0, "Seed of initialisation and data order.", group=EXPERIMENT)
    steps_per_loop: int = setting(
        0,
        "Steps of one Keras epoch, between which evaluation, TensorBoard summaries, NaN checks "
        "and backups happen; 0: one pass over the training data, round(N / B).",
        group=MEASURING,
    )
    eval_every_loops: int = setting(
        1,
        "Evaluate on the eval split every this many loops (see --steps_per_loop); 0: at the end.",
        group=MEASURING,
    )
    backup_every_seconds: float = setting(
        60.0,
        "Back up at the first loop end at least this many seconds after the last backup "
        "(0: after every loop); a killed run restarted with the same flags resumes there.",
        group=OUTPUTS,
    )
    resume: bool = setting(
        True, "Resume from the backup in --model_dir if there is one.", group=OUTPUTS
    )
    divergence_factor: float = setting(
        100.0,
        "Stop as for a NaN loss (exit status 3, the last good backup kept) when a loop's mean "
        "training loss exceeds this many times ln(num_classes), the cross-entropy of a "
        "uniform prediction, where training starts: the run diverged (lower "
        "--base_learning_rate). 0: off.",
        group=OUTPUTS,
    )
    verbose: int = setting(1, "0 silent, 1 progress bar, 2 one line per loop.", group=OUTPUTS)

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Raises ``ValueError`` (or ``TypeError``) naming the first bad field and the fix."""
        for field in dataclasses.fields(self):
            choices = field.metadata["choices"]
            value = getattr(self, field.name)
            if choices is not None and value not in choices:
                raise ValueError(f"{field.name}={value!r}; choose one of: {', '.join(choices)}")
        for name in ("global_batch_size", "base_batch_size", "accumulation_steps"):
            check_int(name, getattr(self, name), positive=True)
        for name in (
            "train_steps",
            "train_tokens",
            "lookahead",
            "ghost_batch_size",
            "precise_bn_examples",
            "seed",
            "steps_per_loop",
            "monitor_every_steps",
        ):
            check_int(name, getattr(self, name))
        check_int("eval_every_loops", self.eval_every_loops)
        check_float("base_learning_rate", self.base_learning_rate)
        for name in (
            "weight_decay",
            "warmup_epochs",
            "warmup_initial_learning_rate",
            "end_learning_rate",
            "trust_ratio",
            "gradient_noise_eta",
            "agc",
            "sam_rho",
            "backup_every_seconds",
            "divergence_factor",
        ):
            check_float(name, getattr(self, name))
        check_float("decay_rate", self.decay_rate, positive=True)
        check_float("schedule_power", self.schedule_power, positive=True)
        if self.train_steps and self.train_tokens:
            raise ValueError(
                f"train_steps={self.train_steps} and train_tokens={self.train_tokens} both set "
                "the training length: set one of them"
            )
        if not (
            self.train_steps
            or self.train_tokens
            or (math.isfinite(self.epochs) and self.epochs > 0)
        ):
            raise ValueError(
                f"epochs must be > 0 (or set train_steps or train_tokens), got {self.epochs!r}"
            )
        check_fraction("momentum", self.momentum)
        check_fraction("label_smoothing", self.label_smoothing)
        if list(self.decay_epochs) != sorted(set(self.decay_epochs)):
            raise ValueError(f"decay_epochs must be increasing, got {list(self.decay_epochs)}")
        check_devices(self.strategy, self.devices)
        if self.ghost_batch_size and self.sync_batch_norm:
            raise ValueError(
                "ghost_batch_size and sync_batch_norm exclude each other: ghost batches are "
                "smaller than a replica's batch, synchronised ones span all replicas"
            )

    def hyperparameters(self) -> dict[str, bool | int | float | str]:
        """The settings that change what a run computes, as TensorBoard HParams values
        (tuples and dicts as their JSON text)."""
        return {
            key: value if isinstance(value, (bool, int, float, str)) else json.dumps(value)
            for key, value in self.to_dict().items()
            if key not in RUN_BEHAVIOUR
        }

    def to_dict(self) -> dict[str, Any]:
        """The config as plain JSON types (tuples become lists)."""
        return json.loads(self.to_json())

    def to_json(self) -> str:
        """The resolved config as JSON (written to ``model_dir/config.json``)."""
        return json.dumps(dataclasses.asdict(self), indent=2, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> ExperimentConfig:
        """The config a ``config.json`` holds; unknown keys are refused, naming them."""
        data = json.loads(text)
        if not isinstance(data, dict):
            raise ValueError("a config JSON must be an object of settings")
        known = {field.name for field in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown config keys: {', '.join(unknown)}")
        hints = typing.get_type_hints(cls)
        return cls(
            **{
                key: tuple(value) if typing.get_origin(hints[key]) is tuple else value
                for key, value in data.items()
            }
        )

    def to_flags(self) -> list[str]:
        """``--name=value`` for every setting: the flags that rebuild this config."""
        flags = []
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if isinstance(value, bool):
                flags.append(f"--{field.name}" if value else f"--no{field.name}")
            elif isinstance(value, tuple):
                flags.append(f"--{field.name}={','.join(str(v) for v in value)}")
            elif isinstance(value, dict):
                flags.append(f"--{field.name}={json.dumps(value, sort_keys=True)}")
            else:  # repr: a float's shortest exact form
                flags.append(
                    f"--{field.name}={value!r}"
                    if isinstance(value, float)
                    else f"--{field.name}={value}"
                )
        return flags

    def replace(self, **changes: Any) -> ExperimentConfig:
        """A copy with ``changes`` applied (and validated)."""
        return dataclasses.replace(self, **changes)
