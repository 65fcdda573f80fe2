"""Tests for lbkeras.schedules.batch_size.adaptive: decisions against hand-computed EMAs."""

from __future__ import annotations

import json
import math

import keras
import pytest

from lbkeras.schedules.batch_size import AdaptiveBatchSize, Decision
from tests.schedules.batch_size.common import assert_round_trips, reference_stages


def feed(schedule, observations):
    return [schedule.observe(examples, estimate) for examples, estimate in observations]


def test_decisions_hand_table():
    schedule = AdaptiveBatchSize(64, max_batch_size=512, check_every=1000, smoothing=0.5)
    decisions = feed(
        schedule,
        [(0, 100.0), (500, 200.0), (1000, 300.0), (1500, 300.0), (2100, 100.0), (3000, 900.0)],
    )
    # EMA: 100, 150, 225 (check at 1000: 225 >= 128, grow), 262.5, 181.25 (check at 2100:
    # 181.25 < 256, keep), 540.625 (check at 3000: >= 256, grow).
    assert decisions == [
        None,
        None,
        Decision(1000, 225.0, 64, 128),
        None,
        Decision(2100, 181.25, 128, 128),
        Decision(3000, 540.625, 128, 256),
    ]
    assert schedule.history == [d for d in decisions if d is not None]
    assert schedule.change_points() == [(0, 64), (1000, 128), (3000, 256)]
    expected = [(0, 0, 64, 16), (16, 1024, 128, 16), (32, 3072, 256, 4)]
    assert schedule.stages(4000) == expected
    assert reference_stages(schedule, 4000) == expected


def test_checks_once_per_interval():
    schedule = AdaptiveBatchSize(8, max_batch_size=8, check_every=100, smoothing=0.0)
    checks = [examples for examples in range(0, 1000, 24) if schedule.observe(examples, 1.0)]
    assert checks == [d.examples for d in schedule.history]
    assert checks == [120, 216, 312, 408, 504, 600, 720, 816, 912]  # first at or after k x 100


def test_never_shrinks_and_stops_at_the_maximum():
    schedule = AdaptiveBatchSize(32, max_batch_size=100, check_every=10, smoothing=0.0)
    feed(schedule, [(10, 1e6), (20, 1e6), (30, 1e6), (40, 1.0), (50, 1e6)])
    # 64 -> 128 would pass max_batch_size=100; a tiny estimate does not shrink the batch.
    changes = [(d.old_batch_size, d.new_batch_size) for d in schedule.history]
    assert changes == [(32, 64)] + [(64, 64)] * 4
    assert schedule.current_batch_size == 64


def test_threshold_and_factor():
    schedule = AdaptiveBatchSize(
        16, max_batch_size=1024, check_every=1, threshold=1.0, factor=4, smoothing=0.0
    )
    feed(schedule, [(1, 15.9), (2, 16.0), (3, 63.0), (4, 64.0)])
    assert [d.new_batch_size for d in schedule.history] == [16, 64, 64, 256]


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf, -5.0, 0.0, None])
def test_invalid_estimates_leave_the_average(bad):
    schedule = AdaptiveBatchSize(8, max_batch_size=64, check_every=10, smoothing=0.5)
    feed(schedule, [(0, 40.0), (5, bad), (10, bad)])
    assert schedule.smoothed == 40.0
    assert schedule.history == [Decision(10, 40.0, 8, 16)]


def test_a_check_before_any_estimate_keeps_the_batch():
    schedule = AdaptiveBatchSize(8, max_batch_size=64, check_every=10)
    assert schedule.observe(10, math.nan) == Decision(10, None, 8, 8)


def test_resume_continues_identically():
    observations = [(e, 50.0 + e / 10) for e in range(0, 6000, 96)]
    uninterrupted = AdaptiveBatchSize(32, max_batch_size=1024, check_every=500, smoothing=0.8)
    feed(uninterrupted, observations)

    first = AdaptiveBatchSize(32, max_batch_size=1024, check_every=500, smoothing=0.8)
    feed(first, observations[:30])
    saved = json.dumps(keras.saving.serialize_keras_object(first))
    resumed = keras.saving.deserialize_keras_object(json.loads(saved))
    feed(resumed, observations[30:])

    assert len(uninterrupted.history) > 5
    assert resumed.get_config() == json.loads(json.dumps(uninterrupted.get_config()))
    assert resumed.history == uninterrupted.history
    assert resumed.stages(6000) == uninterrupted.stages(6000)


def test_workers_fed_the_same_values_decide_alike():
    workers = [AdaptiveBatchSize(16, 256, check_every=64, smoothing=0.9) for _ in range(2)]
    for examples in range(0, 2000, 16):
        estimate = 20.0 * (1 + examples / 500)  # one all-reduced value for both
        assert workers[0].observe(examples, estimate) == workers[1].observe(examples, estimate)
    assert workers[0].get_config() == workers[1].get_config()


def test_round_trips():
    schedule = AdaptiveBatchSize(16, 128, check_every=100, threshold=1.5, smoothing=0.25)
    feed(schedule, [(0, 30.0), (100, 60.0), (200, 100.0)])
    assert schedule.current_batch_size == 64
    assert_round_trips(schedule, 1000)


def test_observations_in_order():
    schedule = AdaptiveBatchSize(8, 64, check_every=10)
    schedule.observe(25, 1.0)
    with pytest.raises(ValueError, match="before the last check at 25"):
        schedule.observe(24, 1.0)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"max_batch_size": 32}, ValueError, "below batch_size"),
        ({"check_every": 0}, ValueError, "check_every"),
        ({"threshold": 0.0}, ValueError, "threshold"),
        ({"threshold": math.nan}, ValueError, "threshold"),
        ({"factor": 1}, ValueError, "factor must be an integer >= 2"),
        ({"smoothing": 1.0}, ValueError, "smoothing"),
        ({"multiple_of": 3}, ValueError, "multiple of 3"),
    ],
)
def test_bad_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        AdaptiveBatchSize(**{"batch_size": 64, "max_batch_size": 512, "check_every": 100, **kwargs})
