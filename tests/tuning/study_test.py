"""The scaling study's planning: learning-rate factors, the step a target is reached (an
accuracy at or above it, a loss at or below it), trials and their target metric."""

from __future__ import annotations

import os

import pytest

from lbkeras.tuning.study import StudySettings, first_step_reaching, learning_rate_factors


@pytest.mark.parametrize(
    "search, trials, expected",
    [
        ("grid", 1, [1.0]),
        ("grid", 3, [0.25, 1.0, 4.0]),
        ("grid", 5, [0.25, 0.5, 1.0, 2.0, 4.0]),
        ("quasirandom", 4, [0.25, 1.0, 0.5, 2.0]),  # 4^(2u-1) at u = 0, 1/2, 1/4, 3/4
    ],
)
def test_learning_rate_factors(search, trials, expected):
    settings = StudySettings(trials=trials, lr_spread=4.0, search=search)
    assert learning_rate_factors(settings) == pytest.approx(expected)


def test_first_step_reaching_is_the_first_evaluation_at_or_above_it():
    curve = {30: 0.5, 10: 0.2, 20: 0.31, 40: 0.29}
    assert first_step_reaching(curve, 0.3) == 20
    assert first_step_reaching(curve, 0.31) == 20
    assert first_step_reaching(curve, 0.6) is None


def test_plan_trials_scales_the_recipe_rate_by_each_factor(tmp_path):
    from lbkeras.training import ExperimentConfig, peak_learning_rate
    from lbkeras.tuning.study import plan_trials

    recipe = ExperimentConfig(
        model="mlp",
        dataset="synthetic",
        dataset_options={"input_shape": [4], "num_classes": 2, "num_train": 4096},
        optimizer="momentum",
        base_learning_rate=0.1,
        base_batch_size=256,
        lr_scaling="linear",
        epochs=10,
    )
    settings = StudySettings(batch_sizes=(256, 1024), trials=3, lr_spread=2.0, evals_per_run=8)
    trials = plan_trials({"m": recipe}, settings, str(tmp_path))
    expected = [(b, i) for b in (256, 1024) for i in range(3)]
    assert [(t.batch_size, t.index) for t in trials] == expected
    for trial in trials:
        rule = 0.1 * trial.batch_size / 256  # the linear rule, written out
        assert peak_learning_rate(trial.config) == pytest.approx(rule * trial.lr_factor)
        assert trial.config.global_batch_size == trial.batch_size
        total = 10 * 4096 // trial.batch_size
        assert trial.config.steps_per_loop == round(total / 8)
        assert trial.directory == str(tmp_path / "m" / f"b{trial.batch_size}" / f"t{trial.index}")
    assert not os.listdir(tmp_path)  # planning writes nothing


def test_first_step_reaching_a_loss_is_the_first_evaluation_at_or_below_it():
    from lbkeras import data
    from lbkeras.training.task import target_metric

    loss = target_metric("eval_loss", data.NEXT_BYTE)
    curve = {30: 1.5, 10: 3.0, 20: 1.8, 40: 1.9}
    assert first_step_reaching(curve, 1.8, loss) == 20
    assert first_step_reaching(curve, 1.79, loss) == 30
    assert first_step_reaching(curve, 1.0, loss) is None


def test_the_target_metric_is_the_task_default_or_named_and_checked(tmp_path):
    from lbkeras.training import ExperimentConfig
    from lbkeras.tuning.study import plan_trials
    from tests.training.lm_common import config as _config
    from tests.training.lm_common import write_corpus as _write_corpus

    (tmp_path / "text").mkdir()
    _write_corpus(tmp_path / "text")
    lm = _config(tmp_path)
    classifier = ExperimentConfig(
        model="mlp",
        dataset="synthetic",
        dataset_options={"input_shape": [4], "num_classes": 2, "num_train": 4096},
    )

    study = str(tmp_path / "study")

    def metric(recipes, **settings):
        trials = plan_trials(recipes, StudySettings(batch_sizes=(64,), trials=1, **settings), study)
        return trials[0].metric.name, trials[0].metric.lower_is_better

    assert metric({"lm": lm}, target=1.8) == ("eval_loss", True)
    assert metric({"c": classifier}) == ("eval_accuracy", False)
    assert metric({"lm": lm}, target=2.5, target_metric="eval_bits_per_byte") == (
        "eval_bits_per_byte",
        True,
    )
    assert metric({"lm": lm}, target=0.5, target_metric="eval_accuracy") == (
        "eval_accuracy",
        False,
    )
    with pytest.raises(ValueError, match="target_metric='eval_bits_per_byte' is not an eval"):
        metric({"c": classifier}, target_metric="eval_bits_per_byte")
    with pytest.raises(ValueError, match="target=0.0 can never be reached: eval_loss"):
        metric({"lm": lm}, target=0.0)
    with pytest.raises(ValueError, match="measured on different eval metrics"):
        metric({"lm": lm, "c": classifier})
    assert not os.path.exists(study)
