"""The training stream: epochs are passes, resumption is exact, workers split each batch.

Examples are told apart by their MNIST-1D features (continuous, all distinct).
"""

import collections

import numpy as np
import pytest

from lbkeras.data.mnist1d import MNIST1DDataset
from lbkeras.data.stream import staged_stream, training_stream
from lbkeras.schedules.batch_size import RampBatchSize, Stage
from tests.data.common import batches, context

NUM_TRAIN = 1000


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    return MNIST1DDataset(str(tmp_path_factory.mktemp("data")), num_train=NUM_TRAIN, num_eval=100)


def _keys(x):
    return [row.tobytes() for row in x]


@pytest.mark.parametrize("batch_size", [128, 250, 1536])  # 1000 % B != 0, == 0, B > N
def test_every_example_is_seen_once_per_pass(source, batch_size):
    passes = 7
    num_batches = passes * NUM_TRAIN // batch_size
    stream = batches(
        training_stream(source, batch_size, seed=3, start_batch=0, num_batches=num_batches)
    )
    assert len(stream) == num_batches and all(len(x) == batch_size for x, _ in stream)
    seen = collections.Counter(key for x, _ in stream for key in _keys(x))
    assert set(seen) == set(_keys(source.arrays("train")[0]))  # no example left out
    # Pass p holds examples p*N .. (p+1)*N - 1 of the stream: whole passes are exact, and the
    # examples of the last, partial pass are seen once more than the others.
    whole, extra = divmod(num_batches * batch_size, NUM_TRAIN)
    assert sorted(collections.Counter(seen.values()).items()) == sorted(
        {whole: NUM_TRAIN - extra, whole + 1: extra}.items()
        if extra
        else {whole: NUM_TRAIN}.items()
    )
    first = [key for x, _ in stream for key in _keys(x)]
    for p in range(whole):  # each pass is a permutation, a different one each pass
        assert len(set(first[p * NUM_TRAIN : (p + 1) * NUM_TRAIN])) == NUM_TRAIN
    assert first[:NUM_TRAIN] != first[NUM_TRAIN : 2 * NUM_TRAIN]


@pytest.mark.parametrize("start", [1, 7, 8, 20])
def test_resuming_at_a_batch_gives_the_rest_of_the_stream(source, start):
    whole = batches(training_stream(source, 128, seed=1, start_batch=0, num_batches=24))
    rest = batches(training_stream(source, 128, seed=1, start_batch=start, num_batches=24 - start))
    assert len(rest) == 24 - start
    for (x, y), (x_rest, y_rest) in zip(whole[start:], rest):
        np.testing.assert_array_equal(x, x_rest)
        np.testing.assert_array_equal(y, y_rest)


def test_two_pipelines_split_each_global_batch(source):
    # Global batch 200 (1000 % 200 == 0 passes), and 300 (batches across passes).
    for global_batch in (200, 300):
        one = batches(training_stream(source, global_batch, seed=2, start_batch=0, num_batches=9))
        halves = [
            batches(
                training_stream(
                    source,
                    global_batch // 2,
                    seed=2,
                    start_batch=0,
                    num_batches=9,
                    input_context=context(i),
                )
            )
            for i in range(2)
        ]
        for k, (x, _) in enumerate(one):
            split = _keys(halves[0][k][0]) + _keys(halves[1][k][0])
            assert sorted(split) == sorted(_keys(x)), (global_batch, k)


def test_seeds_change_the_order(source):
    a = batches(training_stream(source, 100, seed=0, start_batch=0, num_batches=1))
    b = batches(training_stream(source, 100, seed=1, start_batch=0, num_batches=1))
    assert _keys(a[0][0]) != _keys(b[0][0])


# A ramp 128 -> 256 -> 512 over 1,500 examples, 4,000 in all (4 passes): changes that fall
# inside a pass and across a pass boundary, batches that do not divide the pass.
RAMP = RampBatchSize(128, 512, ramp_examples=1500, doubling=True)


def _example_order(source, seed, count):
    """The first ``count`` examples of the stream, one by one: the reference order."""
    (x,) = [
        x
        for x, _ in batches(training_stream(source, count, seed=seed, start_batch=0, num_batches=1))
    ]
    return _keys(x)


def test_staged_stream_cuts_the_same_example_order_into_the_stages_batches(source):
    stages = RAMP.stages(4000)
    assert [s.batch_size for s in stages] == [128, 256, 512]
    stream = batches(staged_stream(source, stages, seed=5))
    sizes = [len(x) for x, _ in stream]
    assert sizes == [stage.batch_size for stage in stages for _ in range(stage.steps)]
    order = _example_order(source, 5, stages[-1].end_example)
    assert [key for x, _ in stream for key in _keys(x)] == order


def test_one_constant_stage_is_the_training_stream(source):
    stages = [Stage(0, 0, 300, 9)]
    for a, b in zip(
        batches(staged_stream(source, stages, seed=2, start_step=4)),
        batches(training_stream(source, 300, seed=2, start_batch=4, num_batches=5)),
    ):
        np.testing.assert_array_equal(a[0], b[0])


def test_staged_stream_resumed_at_any_step_reads_the_rest(source):
    stages = RAMP.stages(4000)
    whole = batches(staged_stream(source, stages, seed=1))
    for start in (1, stages[1].first_step, stages[1].first_step + 1, stages[2].first_step, 12):
        rest = batches(staged_stream(source, stages, seed=1, start_step=start))
        assert len(rest) == len(whole) - start
        for (x, _), (x_rest, _) in zip(whole[start:], rest):
            np.testing.assert_array_equal(x, x_rest)


def test_two_pipelines_split_each_staged_batch(source):
    stages = RAMP.stages(4000)
    one = batches(staged_stream(source, stages, seed=2, start_step=3))
    halves = [
        batches(staged_stream(source, stages, seed=2, start_step=3, input_context=context(i)))
        for i in range(2)
    ]
    assert len(one) == len(halves[0]) == len(halves[1])
    for k, (x, _) in enumerate(one):
        assert sorted(_keys(halves[0][k][0]) + _keys(halves[1][k][0])) == sorted(_keys(x)), k


def test_a_batch_that_does_not_split_over_the_replicas_is_refused(source):
    with pytest.raises(ValueError, match="does not split over 2 replicas"):
        staged_stream(source, [Stage(0, 0, 129, 3)], seed=0, input_context=context(0))
