"""What a run's task asks of the trainer: its loss, its metrics and its extra results.

The dataset source says what its labels are (``DatasetInfo.task``: classes, or the
next byte of a text), the model registry what each model predicts; the trainer asks
this module, and nothing else, what to train and report for that task:

* every task trains on the cross-entropy of the model's logits (lbkeras models return
  logits; one-hot labels for label smoothing and soft-label sources);
* every task reports accuracy (per byte for language models); next-byte prediction adds
  bits per byte, exact over tokens (:class:`lbkeras.metrics.BitsPerByte`), and its
  results add the token counts;
* a recipe's claim (:mod:`lbkeras.training.claims`) names its metric in words
  (:data:`CLAIM_METRICS`): test accuracy for classifiers, eval bits per byte for
  language models (:func:`claim_metric`);
* a target on an eval metric (the scaling study's) is reached at or above it for
  accuracy, at or below it for a loss: :class:`TargetMetric`, named as in
  ``results.json`` (``eval_accuracy``, ``eval_loss``, ``eval_bits_per_byte``); by
  default an accuracy for classifiers, the loss for language models
  (:func:`default_target_metric`).

Example:
    >>> [m.name for m in metrics(one_hot=False, task=data.NEXT_BYTE)]
    ['accuracy', 'bits_per_byte']
    >>> loss(one_hot=True, label_smoothing=0.1).get_config()["from_logits"]
    True
    >>> metric = target_metric("eval_loss", data.NEXT_BYTE)
    >>> metric.reached(1.79, 1.8), metric.describe(1.8)
    (True, 'eval_loss <= 1.8')
    >>> claim_metric(data.NEXT_BYTE), CLAIM_METRICS[claim_metric(data.NEXT_BYTE)]
    ('eval bits per byte', 'eval_bits_per_byte')
"""

from __future__ import annotations

import dataclasses

import keras

from lbkeras import data, models
from lbkeras import metrics as lb_metrics
from lbkeras.training.config import ExperimentConfig


def check_task(config: ExperimentConfig, info: data.DatasetInfo) -> None:
    """The model predicts what the dataset's labels are (classes, or next bytes).

    Raises:
        ValueError: a model of another task (naming the models that fit), or label
            smoothing on a language model.
    """
    if models.task(config.model) != info.task:
        choices = [name for name in models.names() if models.task(name) == info.task]
        raise ValueError(
            f"model {config.model!r} predicts {models.task(config.model)}, and dataset "
            f"{info.name!r} is for {info.task}: use --model={' or '.join(choices)}"
        )
    if info.task == data.NEXT_BYTE and config.label_smoothing:
        raise ValueError(
            "label_smoothing is for classifiers; a language model is compared on the "
            "unsmoothed next-byte loss (bits per byte): leave --label_smoothing at 0"
        )


def loss(one_hot: bool, label_smoothing: float) -> keras.losses.Loss:
    """The cross-entropy of the logits: categorical for one-hot labels, else sparse."""
    if one_hot:
        return keras.losses.CategoricalCrossentropy(
            from_logits=True, label_smoothing=label_smoothing
        )
    return keras.losses.SparseCategoricalCrossentropy(from_logits=True)


#: The metrics each task reports, by name (the loss besides): accuracy for every task (per
#: byte for language models), and bits per byte for next-byte prediction.
TASK_METRICS = {
    data.CLASSIFICATION: ("accuracy",),
    data.NEXT_BYTE: ("accuracy", "bits_per_byte"),
}


def metrics(one_hot: bool, task: str) -> list[keras.metrics.Metric]:
    """The Keras metrics of :data:`TASK_METRICS` for ``task`` (for one-hot labels,
    categorical accuracy)."""
    if one_hot:
        return [keras.metrics.CategoricalAccuracy(name="accuracy")]
    make = {
        "accuracy": lambda: keras.metrics.SparseCategoricalAccuracy(name="accuracy"),
        "bits_per_byte": lb_metrics.BitsPerByte,
    }
    return [make[name]() for name in TASK_METRICS[task]]


#: Eval metrics where lower is better (every other one: higher is better).
LOWER_IS_BETTER = ("loss", "bits_per_byte")
#: The scaling study's target metric when none is named, by task.
DEFAULT_TARGET_METRICS = {data.CLASSIFICATION: "eval_accuracy", data.NEXT_BYTE: "eval_loss"}


@dataclasses.dataclass(frozen=True)
class TargetMetric:
    """An eval metric to reach, and which way: ``name`` as in ``results.json``
    (``eval_`` and the scalar's tag in the run's ``logs/eval``)."""

    name: str
    lower_is_better: bool

    @property
    def tag(self) -> str:
        """The scalar's tag in the eval event files."""
        return self.name.removeprefix("eval_")

    def reached(self, value: float, target: float) -> bool:
        """Whether ``value`` is at or beyond ``target`` in the better direction."""
        return value <= target if self.lower_is_better else value >= target

    def describe(self, target: float) -> str:
        return f"{self.name} {'<=' if self.lower_is_better else '>='} {target:g}"

    def check_target(self, target: float) -> None:
        """Raises ValueError if ``target`` can never be reached (an accuracy outside
        (0, 1), a loss at or below 0)."""
        if self.lower_is_better and not target > 0:
            raise ValueError(
                f"target={target} can never be reached: {self.name} is positive; "
                "choose e.g. --target=1.8"
            )
        if not self.lower_is_better and not 0 < target < 1:
            raise ValueError(
                f"target={target} can never be reached: an accuracy lies in (0, 1); "
                "choose e.g. --target=0.95"
            )


#: The metrics a recipe's claim line may state, as its words name them, and their keys in
#: ``results.json`` (:mod:`lbkeras.training.claims`; ``benchmarks/recipes.py``).
CLAIM_METRICS = {"test accuracy": "eval_accuracy", "eval bits per byte": "eval_bits_per_byte"}
#: The metric a recipe of each task claims.
CLAIM_METRIC_OF_TASK = {data.CLASSIFICATION: "test accuracy", data.NEXT_BYTE: "eval bits per byte"}


def claim_metric(task: str) -> str:
    """The words of the metric a recipe of ``task`` claims (a key of :data:`CLAIM_METRICS`)."""
    return CLAIM_METRIC_OF_TASK[task]


def result_metric(name: str) -> TargetMetric:
    """The ``results.json`` metric (and its direction) of the claimed metric ``name``, a
    key of :data:`CLAIM_METRICS`."""
    key = CLAIM_METRICS[name]
    return TargetMetric(key, key.removeprefix("eval_") in LOWER_IS_BETTER)


def eval_metric_names(task: str) -> list[str]:
    """The eval metrics a run of ``task`` reports, named as in ``results.json``."""
    return ["eval_loss", *(f"eval_{name}" for name in TASK_METRICS[task])]


def default_target_metric(task: str) -> str:
    """The scaling study's target metric for ``task``: accuracy, or a language model's loss."""
    return DEFAULT_TARGET_METRICS[task]


def target_metric(name: str, task: str) -> TargetMetric:
    """The eval metric ``name`` of a run of ``task`` (empty: the task's default), with its
    direction.

    Raises:
        ValueError: a metric the task does not report (naming those it does).
    """
    name = name or default_target_metric(task)
    names = eval_metric_names(task)
    if name not in names:
        raise ValueError(
            f"target_metric={name!r} is not an eval metric of {task}; choose one of: "
            f"{', '.join(names)}"
        )
    return TargetMetric(name, name.removeprefix("eval_") in LOWER_IS_BETTER)


def language_model_results(
    info: data.DatasetInfo,
    eval_metrics: dict[str, float],
    trained_steps: int,
    tokens_per_step: int,
    examples_per_second: float,
) -> dict[str, float]:
    """Bits per byte and token counts of a language model's run; none for classifiers."""
    if info.task != data.NEXT_BYTE:
        return {}
    return {
        "eval_bits_per_byte": float(eval_metrics["bits_per_byte"]),
        "tokens_per_step": tokens_per_step,
        "tokens": trained_steps * tokens_per_step,
        "tokens_per_second": examples_per_second * info.tokens_per_example,
    }
