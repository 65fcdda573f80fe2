"""Helpers shared by the batch-size schedule tests: a step-by-step reference of the stages
rule, and a serialisation round trip."""

from __future__ import annotations

import json

import keras


def reference_stages(schedule, total_examples: int) -> list[tuple[int, int, int, int]]:
    """The stages one step at a time: the step after ``e`` examples has ``batch_at(e)``,
    and steps are taken until ``total_examples`` are seen."""
    batches = []
    examples = 0
    while examples < total_examples:
        batches.append(schedule.batch_at(examples))
        examples += batches[-1]
    stages: list[list[int]] = []
    step = examples = 0
    for batch in batches:
        if stages and stages[-1][2] == batch:
            stages[-1][3] += 1
        else:
            stages.append([step, examples, batch, 1])
        step, examples = step + 1, examples + batch
    return [tuple(stage) for stage in stages]


def assert_round_trips(schedule, total_examples: int) -> None:
    """``from_config(get_config())`` and ``keras.saving`` (through JSON) rebuild a schedule
    with the same config, batches and stages."""
    config = schedule.get_config()
    stages = schedule.stages(total_examples)
    rebuilt = type(schedule).from_config(config)
    serialized = json.loads(json.dumps(keras.saving.serialize_keras_object(schedule)))
    restored = keras.saving.deserialize_keras_object(serialized)
    for other in (rebuilt, restored):
        assert type(other) is type(schedule)
        assert other.get_config() == json.loads(json.dumps(config))
        assert other.stages(total_examples) == stages
        assert other.change_points() == schedule.change_points()
