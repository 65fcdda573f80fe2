"""What a run's task asks of the trainer: its loss, its metrics and its extra results.

The dataset source says what its labels are (``DatasetInfo.task``: classes, or the
next byte of a text), the model registry what each model predicts; the trainer asks
this module, and nothing else, what to train and report for that task:

* every task trains on the cross-entropy of the model's logits (lbkeras models return
  logits; one-hot labels for label smoothing and soft-label sources);
* every task reports accuracy (per byte for language models); next-byte prediction adds
  bits per byte, exact over tokens (:class:`lbkeras.metrics.BitsPerByte`), and its
  results add the token counts.

Example:
    >>> [m.name for m in metrics(one_hot=False, task=data.NEXT_BYTE)]
    ['accuracy', 'bits_per_byte']
    >>> loss(one_hot=True, label_smoothing=0.1).get_config()["from_logits"]
    True
"""

from __future__ import annotations

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


def metrics(one_hot: bool, task: str) -> list[keras.metrics.Metric]:
    """Accuracy for every task (per byte for language models), and bits per byte for
    next-byte prediction."""
    if one_hot:
        return [keras.metrics.CategoricalAccuracy(name="accuracy")]
    accuracy = keras.metrics.SparseCategoricalAccuracy(name="accuracy")
    if task == data.NEXT_BYTE:
        return [accuracy, lb_metrics.BitsPerByte()]
    return [accuracy]


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
