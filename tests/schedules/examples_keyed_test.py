"""ExamplesKeyed: a rate of the examples seen, run on the steps of a batch schedule,
against a step-by-step NumPy walk of the stages."""

import keras
import numpy as np
import pytest
from keras import ops

from lbkeras.schedules import ExamplesKeyed, Warmup
from lbkeras.schedules.batch_size import RampBatchSize, SeesawBatchSize
from lbkeras.schedules.step_decay import StepDecay
from tests.schedules.common import STEP_TYPES, assert_close, assert_round_trips, evaluate

TOTAL = 20_000
RAMP = RampBatchSize(250, 1000, ramp_examples=6000, increment=250)


def _examples_per_step(schedule, total):
    """Examples before each step, walking one step at a time: a step starting after ``e``
    examples has the batch ``batch_at(e)``, and the run ends at or after ``total``."""
    examples, out = 0, []
    while examples < total:
        out.append(examples)
        examples += schedule.batch_at(examples)
    return np.array(out, dtype=np.float64)


def _warmup_polynomial(examples, peak=0.8, warmup=2000, total=TOTAL, power=2.0):
    """Linear warmup over ``warmup`` examples, then (1 - x)^power decay to the end."""
    decay = peak * (1 - np.minimum(examples - warmup, total - warmup) / (total - warmup)) ** power
    return np.where(examples < warmup, peak * examples / warmup, decay)


def _per_example_schedule():
    decay = keras.optimizers.schedules.PolynomialDecay(0.8, TOTAL - 2000, 0.0, power=2.0)
    return Warmup(decay, warmup_steps=2000)


@pytest.mark.parametrize("step_type", STEP_TYPES)
def test_the_rate_at_each_step_is_the_schedule_at_its_examples_times_its_factor(step_type):
    stages = RAMP.stages(TOTAL)
    factors = [(s.first_example, (s.batch_size / 1000) ** 0.5) for s in stages]  # sqrt rule
    rate = ExamplesKeyed(_per_example_schedule(), stages, factors)
    examples = _examples_per_step(RAMP, TOTAL)
    assert len(examples) == stages[-1].end_step
    batches = np.array([RAMP.batch_at(int(e)) for e in examples])
    expected = _warmup_polynomial(examples) * np.sqrt(batches / 1000)
    steps = range(len(examples))
    assert_close(evaluate(rate, steps, step_type), expected)
    np.testing.assert_array_equal(
        [float(ops.convert_to_numpy(rate.examples_at(s))) for s in steps], examples
    )


def test_one_stage_at_batch_b_is_the_step_schedule_at_step_times_b():
    """Keyed on examples, a fixed batch gives the step-keyed run's rates exactly."""
    per_step = StepDecay(1.0, boundaries=[7, 13], decay_rate=0.5)
    per_example = StepDecay(1.0, boundaries=[7 * 64, 13 * 64], decay_rate=0.5)
    rate = ExamplesKeyed(per_example, [(0, 0, 64, 20)])
    np.testing.assert_array_equal(evaluate(rate, range(25)), evaluate(per_step, range(25)))


def test_seesaw_factors_change_at_the_step_its_batch_does():
    seesaw = SeesawBatchSize(100, boundaries=[1000, 2500], max_batch_size=200)
    stages = seesaw.stages(5000)
    factors = [(0, 1.0)] + [(b, seesaw.learning_rate_factor(b)) for b in seesaw.boundaries]
    rate = ExamplesKeyed(0.4, stages, factors)
    examples = _examples_per_step(seesaw, 5000)
    expected = [0.4 * seesaw.learning_rate_factor(int(e)) for e in examples]
    assert_close(evaluate(rate, range(len(examples))), np.array(expected))
    # 1/sqrt(2) from the doubling at 1,000; x 1/2 at 2,500 (the cap: decay only)
    assert sorted(set(np.round(expected, 6))) == [0.141421, 0.282843, 0.4]


def test_round_trips_through_keras_saving():
    stages = RAMP.stages(TOTAL)
    rate = ExamplesKeyed(_per_example_schedule(), stages, [(0, 0.5), (3000, 1.0)])
    assert_round_trips(rate, range(0, stages[-1].end_step + 3))


@pytest.mark.parametrize(
    "stages, factors, message",
    [
        ([], [(0, 1.0)], "start at step 0"),
        ([(0, 0, 4, 2), (3, 8, 8, 1)], [(0, 1.0)], "does not follow"),
        ([(0, 0, 4, 2)], [(5, 1.0)], "start at 0 examples"),
        ([(0, 0, 4, 2)], [(0, 1.0), (0, 2.0)], "increase"),
    ],
)
def test_bad_stages_or_factors_are_refused(stages, factors, message):
    with pytest.raises(ValueError, match=message):
        ExamplesKeyed(0.1, stages, factors)
