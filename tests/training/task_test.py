"""The loss, metrics and results of each task (lbkeras/training/task.py), against NumPy."""

import numpy as np
import pytest

from lbkeras import data
from lbkeras.training import ExperimentConfig, task

TEXT = data.DatasetInfo("text", 256, (8,), 100, 10, task=data.NEXT_BYTE)
DIGITS = data.DatasetInfo("mnist1d", 10, (40,), 100, 10)


def _log_softmax(logits):
    shifted = logits - logits.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def test_the_losses_are_the_cross_entropy_of_logits():
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(6, 5)).astype("float32") * 3
    labels = rng.integers(0, 5, size=6)
    expected = -_log_softmax(logits.astype("float64"))[np.arange(6), labels].mean()
    sparse = float(task.loss(one_hot=False, label_smoothing=0.0)(labels, logits))
    np.testing.assert_allclose(sparse, expected, rtol=1e-5)
    smoothed = np.eye(5)[labels] * 0.9 + 0.1 / 5
    expected = -(smoothed * _log_softmax(logits.astype("float64"))).sum(axis=-1).mean()
    one_hot = float(task.loss(one_hot=True, label_smoothing=0.1)(np.eye(5)[labels], logits))
    np.testing.assert_allclose(one_hot, expected, rtol=1e-5)


def test_metrics_by_task():
    assert [m.name for m in task.metrics(False, data.CLASSIFICATION)] == ["accuracy"]
    assert [m.name for m in task.metrics(False, data.NEXT_BYTE)] == ["accuracy", "bits_per_byte"]
    assert [type(m).__name__ for m in task.metrics(True, data.CLASSIFICATION)] == [
        "CategoricalAccuracy"
    ]


def test_a_model_of_another_task_is_refused_naming_the_models_that_fit():
    task.check_task(ExperimentConfig(model="transformer_lm", dataset="text"), TEXT)
    task.check_task(ExperimentConfig(model="mlp"), DIGITS)
    with pytest.raises(ValueError, match="use --model=transformer_lm"):
        task.check_task(ExperimentConfig(model="mlp", dataset="text"), TEXT)
    with pytest.raises(ValueError, match="next_byte"):
        task.check_task(ExperimentConfig(model="transformer_lm"), DIGITS)
    with pytest.raises(ValueError, match="leave --label_smoothing at 0"):
        config = ExperimentConfig(model="transformer_lm", dataset="text", label_smoothing=0.1)
        task.check_task(config, TEXT)


def test_language_model_results_count_tokens():
    metrics = {"loss": 1.0, "bits_per_byte": 1.4427}
    assert task.language_model_results(DIGITS, metrics, 10, 0, 50.0) == {}
    assert task.language_model_results(TEXT, metrics, 10, 64, 50.0) == {
        "eval_bits_per_byte": 1.4427,
        "tokens_per_step": 64,
        "tokens": 640,
        "tokens_per_second": 400.0,
    }


def test_target_metrics_are_the_reported_eval_metrics_each_with_its_direction():
    assert task.eval_metric_names(data.NEXT_BYTE) == [
        "eval_loss",
        "eval_accuracy",
        "eval_bits_per_byte",
    ]
    assert task.eval_metric_names(data.CLASSIFICATION) == ["eval_loss", "eval_accuracy"]
    loss = task.target_metric("", data.NEXT_BYTE)
    accuracy = task.target_metric("", data.CLASSIFICATION)
    assert (loss.name, loss.tag, loss.lower_is_better) == ("eval_loss", "loss", True)
    assert (accuracy.name, accuracy.tag, accuracy.lower_is_better) == (
        "eval_accuracy",
        "accuracy",
        False,
    )
    assert loss.reached(1.8, 1.8) and not loss.reached(1.81, 1.8)
    assert accuracy.reached(0.9, 0.9) and not accuracy.reached(0.89, 0.9)
    bits = task.target_metric("eval_bits_per_byte", data.NEXT_BYTE)
    assert bits.tag == "bits_per_byte" and bits.lower_is_better
    with pytest.raises(ValueError, match="choose one of: eval_loss, eval_accuracy$"):
        task.target_metric("eval_bits_per_byte", data.CLASSIFICATION)
    with pytest.raises(ValueError, match="an accuracy lies in"):
        accuracy.check_target(1.5)
    with pytest.raises(ValueError, match="eval_loss is positive"):
        loss.check_target(-1.0)
