"""The trainer (lbkeras/training/experiment.py) on a language model: a short run end to end
on the text dataset, its loss and bits per byte against NumPy, and its refusals."""

from __future__ import annotations

import json
import math
import os

import keras
import numpy as np
import pytest

from lbkeras.training import experiment
from tests.event_files import read_scalars
from tests.training.lm_common import BATCH, CONTEXT, STEPS
from tests.training.lm_common import config as _config
from tests.training.lm_common import write_corpus as _write_corpus


def test_a_language_model_trains_and_reports_bits_per_byte(tmp_path):
    (tmp_path / "text").mkdir()
    contents = _write_corpus(tmp_path / "text")
    config = _config(tmp_path)
    results = experiment.run(config)

    assert results["steps"] == STEPS and results["tokens_per_step"] == BATCH * CONTEXT
    assert results["tokens"] == STEPS * BATCH * CONTEXT
    assert results["tokens_per_second"] == pytest.approx(results["examples_per_second"] * CONTEXT)
    with open(os.path.join(config.model_dir, "results.json")) as f:
        assert json.load(f) == results

    # The eval split is the 20th file, whole: its windows and next bytes, by NumPy alone.
    text = np.frombuffer(contents[19] + b"\x1c\n", np.uint8).astype(np.int64)
    n = (len(text) - 1) // CONTEXT
    inputs = text[: n * CONTEXT].reshape(n, CONTEXT)
    labels = text[1 : n * CONTEXT + 1].reshape(n, CONTEXT)
    model = keras.saving.load_model(os.path.join(config.model_dir, "model.keras"))
    logits = np.asarray(model.predict(inputs.astype("int32"), verbose=0), np.float64)
    shifted = logits - logits.max(-1, keepdims=True)
    log_softmax = shifted - np.log(np.exp(shifted).sum(-1, keepdims=True))
    loss = -np.take_along_axis(log_softmax, labels[..., None], -1).mean()
    np.testing.assert_allclose(results["eval_loss"], loss, rtol=1e-5)
    np.testing.assert_allclose(results["eval_bits_per_byte"], loss / math.log(2), rtol=1e-5)
    accuracy = (logits.argmax(-1) == labels).mean()
    np.testing.assert_allclose(results["eval_accuracy"], accuracy, atol=1e-6)
    assert results["eval_loss"] < math.log(256) - 1  # it learned (uniform: ln 256 = 5.55)

    logs = os.path.join(config.model_dir, "logs")
    eval_bits = read_scalars(os.path.join(logs, "eval"), "bits_per_byte")
    assert sorted(eval_bits) == [10, 20, 30]
    np.testing.assert_allclose(eval_bits[30], results["eval_bits_per_byte"], rtol=1e-6)
    train_bits = read_scalars(os.path.join(logs, "train"), "bits_per_byte")
    np.testing.assert_allclose(train_bits[30], results["train_bits_per_byte"], rtol=1e-6)
    np.testing.assert_allclose(
        results["train_bits_per_byte"], results["train_loss"] / math.log(2), rtol=1e-5
    )


@pytest.mark.parametrize(
    "changes, message",
    [
        (
            {"model": "mlp", "model_options": {}},
            "model 'mlp' predicts classification, and "
            "dataset 'text' is for next_byte: use --model=transformer_lm",
        ),
        ({"label_smoothing": 0.1}, "label_smoothing is for classifiers"),
        (
            {
                "dataset": "synthetic",
                "dataset_options": {"input_shape": [4], "num_classes": 2, "num_train": 64},
                "model": "mlp",
                "model_options": {},
            },
            "not token sequences: use --epochs or --train_steps",
        ),
    ],
)
def test_mismatches_are_refused_before_anything_is_written(tmp_path, changes, message):
    (tmp_path / "text").mkdir()
    _write_corpus(tmp_path / "text")
    config = _config(tmp_path, **changes)
    with pytest.raises(ValueError, match=message):
        experiment.run(config)
    assert not os.path.exists(config.model_dir)


def test_a_language_model_logs_the_gradient_noise_scale(tmp_path):
    """--monitor_every_steps with 2 accumulation steps on transformer_lm: the noise-scale
    scalars are in the train event file, each logged step, consistent with each other."""
    (tmp_path / "text").mkdir()
    _write_corpus(tmp_path / "text")
    micro, steps = BATCH // 2, 6
    config = _config(
        tmp_path,
        global_batch_size=micro,
        accumulation_steps=2,
        monitor_every_steps=2,
        train_tokens=0,
        train_steps=steps,
        warmup_epochs=0,
        steps_per_loop=3,
    )
    experiment.run(config)
    train_logs = os.path.join(config.model_dir, "logs", "train")
    b_simple = read_scalars(train_logs, "noise_scale/b_simple")
    ratio = read_scalars(train_logs, "noise_scale/batch_over_b_simple")
    trace = read_scalars(train_logs, "noise_scale/trace_sigma")
    norm_sq = read_scalars(train_logs, "noise_scale/grad_norm_sq")
    assert sorted(b_simple) == sorted(ratio) == sorted(trace) == sorted(norm_sq) == [0, 2, 4]
    for step in b_simple:
        assert b_simple[step] > 0 and norm_sq[step] > 0
        # B_simple = tr(Sigma) / |G|^2; the ratio is the update's batch (2 x micro) over it.
        np.testing.assert_allclose(b_simple[step], trace[step] / norm_sq[step], rtol=1e-5)
        np.testing.assert_allclose(ratio[step], 2 * micro / b_simple[step], rtol=1e-5)
