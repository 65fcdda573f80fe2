"""The step and batch arithmetic of lbkeras/training/plan.py (more in recipe_test.py)."""

import math

import pytest

from lbkeras.training.plan import eval_batch_size


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
