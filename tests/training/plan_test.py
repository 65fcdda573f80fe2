"""The step and batch arithmetic of lbkeras/training/plan.py (more in recipe_test.py)."""

import math

import pytest

from lbkeras.training.config import ExperimentConfig
from lbkeras.training.plan import eval_batch_size, plan


@pytest.mark.parametrize("replicas", [1, 2, 3, 4])
def test_eval_batch_size_is_the_largest_that_gives_every_replica_the_same_batches(replicas):
    for num_examples in range(replicas, 140, 7):
        for batch_size in (1, 5, 16, 50, 300):
            chosen = eval_batch_size(num_examples, batch_size, replicas)
            assert 1 <= chosen <= batch_size
            if replicas == 1:
                assert chosen == batch_size
                continue
            # A brute-force reference: the largest batch whose batch count splits evenly.
            fitting = [
                b for b in range(1, batch_size + 1) if math.ceil(num_examples / b) % replicas == 0
            ]
            if not fitting:  # none splits evenly (tiny sets): the batch as asked
                assert chosen == batch_size
                continue
            assert chosen == max(fitting), (num_examples, batch_size, replicas)
            # Dealt in turn, every replica gets the same number of non-empty batches.
            sizes = [min(chosen, num_examples - start) for start in range(0, num_examples, chosen)]
            assert len(sizes) % replicas == 0 and min(sizes) > 0


@pytest.mark.parametrize(
    "batch, accumulation, tokens, context, steps",
    [(64, 1, 10**6, 128, 122), (8, 2, 5000, 16, 20), (32, 1, 100, 128, 1)],
)
def test_train_tokens_sets_the_steps_of_a_language_model(
    batch, accumulation, tokens, context, steps
):
    config = ExperimentConfig(
        global_batch_size=batch, accumulation_steps=accumulation, train_tokens=tokens
    )
    p = plan(config, 80_000, num_replicas=1, tokens_per_example=context)
    assert p.tokens_per_step == batch * accumulation * context
    # round(tokens / tokens per step), at least one step: 10**6 / 8192 = 122.07,
    # 5000 / 256 = 19.53, 100 / 4096 = 0.02.
    assert p.total_steps == steps == max(1, round(tokens / (batch * accumulation * context)))
    assert p.total_tokens == steps * p.tokens_per_step
    assert math.isclose(p.passes, steps * batch * accumulation / 80_000)


def test_classifiers_count_no_tokens_and_refuse_train_tokens():
    assert plan(ExperimentConfig(), 16_000, num_replicas=1).tokens_per_step == 0
    with pytest.raises(ValueError, match="not token sequences: use --epochs or --train_steps"):
        plan(ExperimentConfig(train_tokens=10**6), 16_000, num_replicas=1)
    with pytest.raises(ValueError, match="train_steps=5 and train_tokens=100 both set"):
        ExperimentConfig(train_steps=5, train_tokens=100)


@pytest.mark.parametrize(
    "changes, effective, base, peak, warmup",
    [
        # LARS's default 1.0 per 256, linear rule to 2048; 5 warmup epochs of 16000/2048 steps.
        (dict(), 2048, 1.0, 8.0, 39),
        # Accumulation by flag and by a named wrapper multiply; the rate follows the product.
        (
            dict(
                accumulation_steps=2,
                optimizer="gradient_accumulation",
                optimizer_options={"optimizer": "lars", "steps": 3},
            ),
            12288,
            1.0,
            48.0,
            7,  # 5 x 16000 / 12288 = 6.51
        ),
        # AdaScale: the peak stays the base rate, the schedule (and warmup) the base run's.
        (dict(adascale=True, base_learning_rate=0.5), 2048, 0.5, 0.5, 313),  # 5 x 62.5
    ],
)
def test_the_plan_holds_the_batch_and_learning_rates_of_the_run(
    changes, effective, base, peak, warmup
):
    config = ExperimentConfig(global_batch_size=2048, warmup_epochs=5.0, **changes)
    steps = plan(config, 16_000, num_replicas=2)
    assert steps.effective_batch_size == effective
    assert steps.effective_batch_size == config.global_batch_size * steps.accumulation_steps
    assert steps.base_learning_rate == pytest.approx(base)
    assert steps.peak_learning_rate == pytest.approx(peak)
    assert steps.warmup_steps == warmup
