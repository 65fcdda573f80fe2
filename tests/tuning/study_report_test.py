"""The study report's summary: the best trial of each batch size."""

from lbkeras.tuning import study_report


def _record(batch, trial, steps_to, accuracy, status="done"):
    return {
        "recipe": "r",
        "batch_size": batch,
        "trial": trial,
        "learning_rate": 0.1 * (trial + 1),
        "status": status,
        "steps": 100,
        "eval_accuracy": accuracy,
        "train_accuracy": accuracy,
        "steps_to_target": steps_to,
        "examples_to_target": None if steps_to is None else steps_to * batch,
        "seconds_to_target": None if steps_to is None else 1.0,
        "b_simple_at_target": None,
    }


def test_the_best_trial_is_the_fastest_to_the_target():
    records = [
        _record(64, 0, None, 0.9),  # the most accurate, but never reached the target
        _record(64, 1, 50, 0.8),
        _record(64, 2, 50, 0.85),  # as fast as trial 1, more accurate: the best
        _record(512, 0, None, None, status="diverged"),
        _record(512, 1, None, 0.7),  # nothing reached the target: the most accurate
    ]
    rows = study_report.summarize(records)["recipes"]["r"]["rows"]
    assert [(r["batch_size"], r["best_trial"], r["steps_to_target"]) for r in rows] == [
        (64, 2, 50),
        (512, 1, None),
    ]
    assert rows[0]["best_eval_accuracy"] == 0.9
    assert rows[0]["trials_reaching_target"] == 2 and rows[1]["trials_reaching_target"] == 0
    assert rows[1]["eval_accuracy"] == 0.7
