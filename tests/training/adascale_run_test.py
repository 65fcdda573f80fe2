"""lbkeras-train's --adascale: the base recipe at 4x its batch, ended when tau reaches the
base run's length; the gain and tau in TensorBoard."""

import os

import numpy as np
import pytest

from lbkeras.training import ExperimentConfig, plan, run
from tests.event_files import read_scalars


def _config(tmp_path, **changes):
    settings = dict(
        model_dir=str(tmp_path / "run"),
        data_dir=str(tmp_path.parent / "data"),
        dataset_options={"num_train": 2000, "num_eval": 500},
        global_batch_size=125,
        accumulation_steps=4,  # 4 small gradients of 125 per step: S = 500 / 125
        base_batch_size=125,
        optimizer="momentum",
        base_learning_rate=0.05,
        weight_decay=0.0,
        warmup_epochs=1.0,
        epochs=4.0,
        adascale=True,
        verbose=0,
    )
    return ExperimentConfig(**{**settings, **changes})


def test_runs_the_base_schedule_until_tau_reaches_its_length(tmp_path):
    config = _config(tmp_path)
    steps = plan(config, 2000, 1)
    assert steps.schedule_steps == 64 and steps.steps_per_loop == 4  # base: 4 passes of 125
    results = run(config)
    assert results["tau"] >= 64 and results["peak_learning_rate"] == 0.05
    assert 16 <= results["steps"] < 64  # gains between 1 and S = 4 took it there sooner
    train_dir = os.path.join(config.model_dir, "logs", "train")
    gain, tau = (read_scalars(train_dir, f"adascale/{tag}") for tag in ("gain", "tau"))
    assert sorted(gain) == sorted(tau) == list(range(4, results["steps"] + 1, 4))
    assert all(1.0 <= g <= 4.0 for g in gain.values())
    assert tau[max(tau)] == pytest.approx(results["tau"])
    before_last = sorted(tau)[-2]
    assert tau[before_last] < 64  # it stopped at the first loop end past the base length
    rate = read_scalars(train_dir, "adascale/learning_rate")
    for step, t in tau.items():  # the base schedule at tau: 16 warmup steps, poly 2 over 48
        base = 0.05 * t / 16 if t < 16 else 0.05 * max(0.0, 1 - (t - 16) / 48) ** 2
        np.testing.assert_allclose(rate[step], gain[step] * base, rtol=1e-4, atol=1e-7)


def test_needs_two_small_gradients(tmp_path):
    with pytest.raises(ValueError, match="adascale needs 2 or more small-batch gradients"):
        run(_config(tmp_path, accumulation_steps=1))
