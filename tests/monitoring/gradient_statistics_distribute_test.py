"""GradientStatistics under MirroredStrategy: 2 replicas x 2 micro-batches of 16 match the
exact values (see gradient_statistics_test.py for the problem)."""

from tests.monitoring.gradient_statistics_test import SMALL_BATCH, _check, _fit, _problem


def test_two_replicas_with_micro_batches_match_the_exact_values(mirrored_strategy):
    x, y, w, exact = _problem(seed=1)
    with mirrored_strategy.scope():  # 2 replicas x 16 examples, 2 micro-batches an update
        statistics = _fit(x, y, w, micro_batches=2, global_batch=2 * SMALL_BATCH)
    _check(statistics, exact)
