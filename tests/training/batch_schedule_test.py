"""A run's batch schedule (lbkeras/training/batch_schedule.py): the schedule built from the
config, the transfers at each change against hand-computed values, the learning rate keyed
on examples against the fixed-batch run's, and the refusals."""

from __future__ import annotations

import math
import os

import numpy as np
import pytest

from lbkeras.training import batch_schedule, experiment
from lbkeras.training.config import ExperimentConfig
from lbkeras.training.plan import plan
from tests.event_files import read_scalars

NUM_TRAIN = 10_000
RAMP = {"start_batch_size": 250, "ramp_examples": 6000, "increment": 250}


def _config(**changes) -> ExperimentConfig:
    settings = {"batch_schedule": "ramp", "global_batch_size": 1000, "batch_schedule_options": RAMP}
    return ExperimentConfig(**{**settings, **changes})


def test_the_ramp_ends_at_the_global_batch_and_splits_over_the_replicas():
    schedule = batch_schedule.build_batch_schedule(_config(), NUM_TRAIN, num_replicas=2)
    assert schedule.get_config()["batch_size"] == 1000 and schedule.multiple_of == 2
    assert [b for _, b in schedule.change_points()] == [250, 500, 750, 1000]
    with pytest.raises(ValueError, match="multiple of 4"):  # 250 over 4 replicas
        batch_schedule.build_batch_schedule(_config(), NUM_TRAIN, num_replicas=4)


def test_steps_in_passes_get_the_data_size_and_the_largest_batch_must_be_the_global_batch():
    config = ExperimentConfig(
        batch_schedule="steps",
        global_batch_size=400,
        batch_schedule_options={"passes": [[0, 100], [1.5, 400]]},
    )
    schedule = batch_schedule.build_batch_schedule(config, NUM_TRAIN, 1)
    assert schedule.change_points() == [(0, 100), (15_000, 400)]
    with pytest.raises(ValueError, match="--global_batch_size=400"):
        batch_schedule.build_batch_schedule(config.replace(global_batch_size=800), NUM_TRAIN, 1)


def test_the_plan_of_a_ramp_counts_examples_and_its_stages():
    steps = plan(_config(epochs=3, warmup_epochs=0.5), NUM_TRAIN, num_replicas=1)
    # by hand: changes at 2,000, 4,000, 6,000 examples; 250 x 8 steps to 2,000, 500 x 4 to
    # 4,000, 750 x 3 to 6,250 (the first boundary at or after 6,000), 1000 x 24 to 30,250
    assert [(s.batch_size, s.steps) for s in steps.stages] == [
        (250, 8),
        (500, 4),
        (750, 3),
        (1000, 24),
    ]
    assert steps.total_steps == 39 and steps.examples_before(39) == 30_250
    # warmup: 5,000 examples; step 14 is the first to start after them (at 5,500)
    assert steps.passes == 3.025 and steps.warmup_steps == 14
    assert steps.steps_per_loop == 13  # about a pass: round(39 / 3.025)


def _adam(**changes) -> ExperimentConfig:
    return _config(
        optimizer="adamw", base_learning_rate=1e-3, base_batch_size=250, weight_decay=0.1, **changes
    )


def test_malladi_transfers_betas_and_epsilon_back_to_the_base_batch():
    # The peak batch 1000 is 4x the base: beta_1 0.6, beta_2 0.996, epsilon 5e-8, lr 2e-3;
    # the first stage (250) is the base batch, so its values are the base's.
    transfers = batch_schedule.stage_transfers(
        _adam(lr_scaling="malladi"), [plan(_adam(lr_scaling="malladi"), NUM_TRAIN, 1).stages[0]]
    )
    after = transfers[0].after
    np.testing.assert_allclose(
        [after["learning_rate"], after["beta_1"], after["beta_2"], after["epsilon"]],
        [1e-3, 0.9, 0.999, 1e-7],
        rtol=1e-12,
    )


def test_half_life_and_timescale_rules_at_each_stage():
    config = _adam(lr_scaling="sqrt", beta_2_rule="half_life", weight_decay_rule="timescale")
    stages = plan(config, NUM_TRAIN, 1).stages
    for stage, transfer in zip(stages, batch_schedule.stage_transfers(config, stages)):
        k = stage.batch_size / 1000  # from the peak batch
        np.testing.assert_allclose(transfer.after["learning_rate"], 2e-3 * math.sqrt(k))
        np.testing.assert_allclose(transfer.after["beta_2"], 0.999**k)
        np.testing.assert_allclose(transfer.after["weight_decay"], 0.1 * k / math.sqrt(k))
    assert "beta_2" in transfers_descriptions(config, stages)[1]


def transfers_descriptions(config, stages):
    return [t.description for t in batch_schedule.stage_transfers(config, stages)]


def test_the_learning_rate_keyed_on_examples_is_the_fixed_batch_runs_times_the_transfer(
    tmp_path,
):
    data = {
        "dataset": "synthetic",
        "model": "mlp",
        "dataset_options": {
            "input_shape": [4],
            "num_classes": 2,
            "num_train": NUM_TRAIN,
            "num_eval": 10,
        },
        "epochs": 4,
        "warmup_epochs": 1,
    }
    fixed = experiment.prepare(
        ExperimentConfig(model_dir=str(tmp_path / "a"), global_batch_size=1000, **data)
    )
    ramp = experiment.prepare(_config(model_dir=str(tmp_path / "b"), **data))
    assert ramp.plan.total_steps == 49  # 8 + 4 + 3 steps of the ramp, 34 at 1000 to 40,250
    for step in range(ramp.plan.total_steps):
        examples = ramp.plan.examples_before(step)
        factor = ramp.plan.stage_at(step).batch_size / 1000  # LARS: the linear rule
        # the fixed run's rate after `examples` examples: its schedule at step examples / 1000
        np.testing.assert_allclose(
            float(ramp.schedule(step)),
            float(fixed.schedule(examples / 1000)) * factor,
            rtol=1e-6,
            err_msg=f"step {step}",
        )


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"accumulation_steps": 2}, "accumulation"),
        ({"adascale": True}, "AdaScale"),
        ({"train_steps": 10}, "--epochs or --train_tokens"),
        (
            {
                "batch_schedule": "seesaw",
                "batch_schedule_options": {"batch_size": 250, "boundaries": [1000, 2000]},
            },
            "--schedule=constant",
        ),
        (
            {
                "batch_schedule": "constant",
                "batch_schedule_options": {},
                "beta_2_rule": "half_life",
            },
            "needs a --batch_schedule",
        ),
    ],
)
def test_what_a_schedule_cannot_be_combined_with_is_refused(changes, message):
    with pytest.raises(ValueError, match=message):
        batch_schedule.check_batch_schedule(_config(**changes))


def test_a_rule_for_a_hyperparameter_the_optimizer_lacks_is_refused():
    config = _config(beta_2_rule="half_life")  # LARS has no beta_2
    with pytest.raises(ValueError, match="'lars' has no beta_2"):
        batch_schedule.stage_transfers(config, plan(config, NUM_TRAIN, 1).stages)


def _run_config(tmp_path, name, **changes) -> ExperimentConfig:
    return _adam(
        model_dir=str(tmp_path / name),
        model="mlp",
        model_options={"hidden_units": [8]},
        dataset="synthetic",
        dataset_options={"input_shape": [4], "num_classes": 2, "num_train": 2000, "num_eval": 50},
        lr_scaling="sqrt",
        epochs=3,
        warmup_epochs=0.5,
        verbose=0,
        **changes,
    )


def test_a_ramped_run_logs_its_batches_and_transfers_beta_2_at_each_change(tmp_path):
    config = _run_config(tmp_path, "half_life", beta_2_rule="half_life")
    results = experiment.run(config)
    steps = plan(config, 2000, 1)
    # 250 x 8 to 2,000, 500 x 4 to 4,000, 750 x 3 to 6,250 >= 3 passes: the run ends
    assert [(s.batch_size, s.steps) for s in steps.stages] == [(250, 8), (500, 4), (750, 3)]
    assert results["batch_history"] == [s._asdict() for s in steps.stages]
    assert results["steps"] == 15 and results["examples"] == 6250 and results["passes"] == 3.125
    logs = os.path.join(config.model_dir, "logs", "train")
    batch = read_scalars(logs, "batch_size")
    assert batch == {step: steps.stage_at(step).batch_size for step in range(15)}
    examples = read_scalars(logs, "examples_seen")
    assert examples == {step: steps.examples_before(step) for step in range(15)}
    # Warmup over 1,000 examples to the peak 2e-3 (1e-3 at 250, sqrt rule), then (1 - x)^2
    # to 6,000 examples; times sqrt(batch / 1000) at each step.
    e = np.array([examples[step] for step in range(15)], np.float64)
    shape = np.where(e < 1000, e / 1000, (1 - np.minimum(e - 1000, 5000) / 5000) ** 2)
    expected = 2e-3 * shape * np.sqrt(np.array([batch[step] for step in range(15)]) / 1000)
    rates = read_scalars(logs, "learning_rate")
    np.testing.assert_allclose([rates[step] for step in range(15)], expected, rtol=1e-6)
    # The same run without the beta_2 rule ends elsewhere: the transfer took effect.
    plain = experiment.run(_run_config(tmp_path, "plain"))
    assert plain["batch_history"] == results["batch_history"]
    assert plain["train_loss"] != results["train_loss"]
