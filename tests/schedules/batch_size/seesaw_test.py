"""Tests for lbkeras.schedules.batch_size.seesaw against hand-computed values."""

from __future__ import annotations

import math

import pytest

from lbkeras.schedules.batch_size import SeesawBatchSize
from tests.schedules.batch_size.common import assert_round_trips, reference_stages

ROOT_HALF = 1 / math.sqrt(2)


def test_batch_doubles_and_rate_falls_by_root_two_at_each_boundary():
    seesaw = SeesawBatchSize(256, boundaries=[4096, 8192, 16384])
    examples = [0, 4095, 4096, 8191, 8192, 16384, 10**7]
    assert [seesaw.batch_at(e) for e in examples] == [256, 256, 512, 512, 1024, 2048, 2048]
    factors = [seesaw.learning_rate_factor(e) for e in examples]
    assert factors == pytest.approx(
        [1, 1, ROOT_HALF, ROOT_HALF, 0.5, 0.5 * ROOT_HALF] * 1 + [0.5 * ROOT_HALF]
    )


def test_it_is_step_decay_times_the_sqrt_transfer():
    # Seesaw = step decay x 1/2 per boundary, and the batch x 2 with the sqrt rule's x sqrt(2).
    seesaw = SeesawBatchSize(64, boundaries=[1000, 2500, 4000])
    for stage in seesaw.stages(6000):
        e = stage.first_example
        decays = sum(b <= e for b in seesaw.boundaries)
        step_decay = 0.5**decays
        transfer = math.sqrt(stage.batch_size / 64)
        assert seesaw.learning_rate_factor(e) == pytest.approx(step_decay * transfer)
        assert seesaw.learning_rate_factor(e) == pytest.approx(ROOT_HALF**decays)


def test_rate_and_batch_change_at_the_same_step():
    seesaw = SeesawBatchSize(96, boundaries=[1000, 2000])  # 1000 and 2000 are no step boundaries
    stages = seesaw.stages(5000)
    assert stages == [(0, 0, 96, 11), (11, 1056, 192, 5), (16, 2016, 384, 8)]
    assert stages == reference_stages(seesaw, 5000)
    for before, stage in zip(stages, stages[1:]):
        last_step_before = stage.first_example - before.batch_size
        assert seesaw.learning_rate_factor(last_step_before) == pytest.approx(
            seesaw.learning_rate_factor(stage.first_example) * math.sqrt(2)
        )


def test_past_the_cap_the_rate_decays_as_the_step_schedule():
    seesaw = SeesawBatchSize(256, [1000, 2000, 3000, 4000], max_batch_size=600)
    assert seesaw.change_points() == [(0, 256), (1000, 512)]
    factors = [seesaw.learning_rate_factor(e) for e in (0, 1000, 2000, 3000, 4000)]
    assert factors == pytest.approx([1, ROOT_HALF, ROOT_HALF / 2, ROOT_HALF / 4, ROOT_HALF / 8])


def test_linear_rule_is_smith_et_al():
    # Don't decay the learning rate, increase the batch size: the rate stays until the cap.
    smith = SeesawBatchSize(128, [1000, 2000, 3000], max_batch_size=512, rule="linear")
    assert [smith.batch_at(e) for e in (999, 1000, 2000, 3000)] == [128, 256, 512, 512]
    assert [smith.learning_rate_factor(e) for e in (0, 1000, 2000, 3000)] == [1, 1, 1, 0.5]


def test_factor_four():
    seesaw = SeesawBatchSize(16, [100, 200], factor=4)
    assert seesaw.change_points() == [(0, 16), (100, 64), (200, 256)]
    assert seesaw.learning_rate_factor(200) == pytest.approx(1 / 4)  # (1/4 x sqrt(4))^2


def test_no_boundaries_is_constant():
    seesaw = SeesawBatchSize(32, [])
    assert seesaw.change_points() == [(0, 32)]
    assert seesaw.learning_rate_factor(10**6) == 1.0


def test_round_trips():
    assert_round_trips(
        SeesawBatchSize(64, [500, 1500], max_batch_size=256, rule="linear", multiple_of=32), 4000
    )


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"boundaries": [0, 100]}, ValueError, "positive"),
        ({"boundaries": [100, 100]}, ValueError, "strictly increasing"),
        ({"boundaries": [200, 100]}, ValueError, "strictly increasing"),
        ({"boundaries": [10.5]}, TypeError, "boundaries"),
        ({"factor": 1}, ValueError, "factor must be an integer >= 2"),
        ({"factor": 2.0}, TypeError, "factor"),
        ({"rule": "malladi"}, ValueError, "choose one of: sqrt, linear"),
        ({"max_batch_size": 32}, ValueError, "below batch_size"),
        ({"multiple_of": 48}, ValueError, "multiple of 48"),
    ],
)
def test_bad_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        SeesawBatchSize(**{"batch_size": 64, "boundaries": [100], **kwargs})
