"""The batch-size finder: the search against known limits, the classifier, real probes.

The search strategy is a pure function of a "fits?" callback, tested with exact
sequences of tried sizes. The real tests run probes in fresh processes: one under an
address-space limit sized from a measured probe, so that a small batch fits and twice
that size does not.
"""

import csv
import json
import math
import os

import pytest

from lbkeras.training import ExperimentConfig
from lbkeras.tuning.batch_finder import (
    FITS,
    OUT_OF_MEMORY,
    BatchSearchSettings,
    ProbeError,
    Trial,
    choose,
    classify,
    find_batch_size,
    run_probe,
    search_sizes,
)
from lbkeras.tuning.process import Outcome


def _search(limit, start, maximum, granularity):
    calls = []

    def fits(size):
        calls.append(size)
        return size <= limit

    tried = search_sizes(fits, start, maximum, granularity)
    assert [size for size, _ in tried] == calls  # one call per size, in order
    assert len(set(calls)) == len(calls)
    assert all(ok == (size <= limit) for size, ok in tried)
    return calls


def test_doubling_then_bisection_to_the_granularity():
    assert _search(700, 64, 4096, 64) == [64, 128, 256, 512, 1024, 768, 640, 704]
    assert _search(100, 64, 4096, 8) == [64, 128, 96, 112, 104]
    assert _search(1023, 64, 4096, 256) == [64, 128, 256, 512, 1024, 768]


def test_the_last_doubling_stops_at_the_maximum_rounded_to_the_granularity():
    assert _search(10**9, 64, 1000, 64) == [64, 128, 256, 512, 960]
    assert _search(10**9, 64, 64, 8) == [64]
    assert _search(900, 64, 1000, 64) == [64, 128, 256, 512, 960, 704, 832, 896]


def test_a_start_that_does_not_fit_ends_the_search():
    assert _search(10, 64, 4096, 8) == [64]


def test_a_failure_other_than_memory_stops_the_search():
    calls = []

    def fits(size):
        calls.append(size)
        if size == 256:
            raise ValueError("ghost batch size 48 does not divide the per-replica batch 256")
        return True

    with pytest.raises(ValueError, match="ghost batch size 48"):
        search_sizes(fits, 64, 4096, 64)
    assert calls == [64, 128, 256]


def _trials(limit, speeds, start=64, maximum=4096, granularity=64):
    tried = search_sizes(lambda size: size <= limit, start, maximum, granularity)
    return [
        Trial(size, FITS, speeds(size), size / speeds(size)) if ok else Trial(size, OUT_OF_MEMORY)
        for size, ok in tried
    ]


def test_margin_and_throughput_knee_pick_tried_sizes():
    speed = {64: 100.0, 128: 190.0, 256: 300.0, 512: 320.0, 640: 330.0}
    trials = _trials(700, speed.get)  # tried 64 .. 512, 1024 x, 768 x, 640, 704 x
    assert choose(trials, margin=0.1, tolerance=0.1) == (640, 512, 256)  # 0.9 * 640 = 576
    assert choose(trials, margin=0.1, tolerance=0.0) == (640, 512, 512)
    assert choose(trials, margin=0.0, tolerance=0.1) == (640, 640, 256)  # 0.9 * 330 = 297
    assert choose(trials, margin=0.0, tolerance=0.4) == (640, 640, 256)  # 198 > 190
    assert choose(trials, margin=0.0, tolerance=0.45) == (640, 640, 128)  # 181.5 <= 190
    assert choose(trials, margin=0.9, tolerance=0.1) == (640, 64, 64)  # nothing <= 64 but 64
    assert choose(trials, margin=0.95, tolerance=0.1) == (640, 64, 64)  # the smallest at worst


def test_no_failure_means_no_margin_and_nothing_fitting_means_no_answer():
    trials = _trials(10**9, lambda size: 100.0 * size, maximum=1000)
    assert choose(trials, margin=0.5, tolerance=0.1) == (960, 960, 960)
    assert choose([Trial(64, OUT_OF_MEMORY)], margin=0.1, tolerance=0.1) == (None, None, None)


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"start": 0}, "start must be an integer > 0"),
        ({"start": 512, "max_batch_size": 256}, "lower --start or raise --max_batch_size"),
        ({"start": 100, "multiple_of": 8}, "not a multiple of multiple_of 8"),
        ({"margin": 1.0}, r"margin must be a finite number in \[0, 1\)"),
        ({"throughput_tolerance": -0.1}, "throughput_tolerance"),
        ({"memory_limit_mb": -1}, "memory_limit_mb must be an integer >= 0"),
        ({"timeout": float("nan")}, "timeout must be a finite number"),
    ],
)
def test_bad_settings_are_one_line_errors(changes, message):
    with pytest.raises(ValueError, match=message) as error:
        BatchSearchSettings(**changes)
    assert "\n" not in str(error.value)


WARNING = (
    "W0000 00:00:1796196727.071482    5131 cpu_allocator_impl.cc:83] Allocation of "
    "1073741824 exceeds 10% of free system memory.\n"
)


@pytest.mark.parametrize(
    "returncode, stderr, limited",
    [
        (4, "out of memory: ResourceExhaustedError: OOM when allocating tensor", False),
        (-9, "", False),  # the kernel's out-of-memory killer
        (-6, "terminate called after throwing an instance of 'std::bad_alloc'", False),
        (
            -6,
            "F0000 00:00:1.2 5 env.cc:84] Check failed: ret == 0 (11 vs. 0) Thread "
            "tf_data_iterator_resource creation via pthread_create() failed.",
            True,
        ),
        (1, "ImportError: libtensorflow_cc.so.2: failed to map segment from shared object", True),
        (
            1,
            "tensorflow.python.framework.errors_impl.InternalError: Failed to allocate 4 bytes",
            False,
        ),
    ],
)
def test_out_of_memory_in_any_of_its_forms(returncode, stderr, limited):
    assert classify(Outcome(returncode, None, stderr), memory_limited=limited) == OUT_OF_MEMORY


@pytest.mark.parametrize(
    "returncode, stderr, limited, error, message",
    [
        (2, "unknown model 'nope'; choose one of: mlp, resnet", True, ValueError, "unknown model"),
        (1, WARNING + "RuntimeError: the input is broken", True, ProbeError, "exit status 1"),
        (-11, WARNING, True, ProbeError, "killed by SIGSEGV"),
        (-6, "F0000 pthread_create() failed", False, ProbeError, "killed by SIGABRT"),
    ],
)
def test_other_failures_are_errors_not_sizes_that_do_not_fit(
    returncode, stderr, limited, error, message
):
    with pytest.raises(error, match=message):
        classify(Outcome(returncode, None, stderr), memory_limited=limited)


# A wide hidden layer on 4 inputs: 512 KiB of activations per example, little compute.
WIDTH = 131_072
START = 256


def _config(tmp_path) -> ExperimentConfig:
    return ExperimentConfig(
        model="mlp",
        model_options={"hidden_units": [WIDTH]},
        dataset="synthetic",
        dataset_options={"input_shape": [4], "num_classes": 2, "num_train": 8192, "num_eval": 64},
        optimizer="sgd",
        model_dir=str(tmp_path / "unused"),
    )


def test_out_of_memory_under_an_address_space_limit(tmp_path):
    config = _config(tmp_path)
    quick = {"steps": 1, "warmup_steps": 1}
    # The probe's own peak at START, with no limit: the limit leaves room for it plus
    # 3/4 of one START batch of activations, START * WIDTH * 4 bytes (128 MiB). Twice
    # START needs at least one more such batch (the hidden activations of START more
    # examples), so it cannot fit; START fits unless its peak varies by 96 MiB (it
    # varies by ~25 MiB).
    measured, answer = run_probe(
        config, START, BatchSearchSettings(**quick), str(tmp_path / "measure")
    )
    assert measured.fits, measured
    limit = answer["peak_virtual_bytes"] + START * WIDTH * 4 * 3 // 4
    settings = BatchSearchSettings(
        start=START,
        max_batch_size=4096,
        multiple_of=START // 2,
        memory_limit_mb=math.ceil(limit / 2**20),
        margin=0.0,
        **quick,
    )
    output_dir = str(tmp_path / "search")
    search = find_batch_size(config, settings, output_dir)

    sizes = [trial.global_batch_size for trial in search.trials]
    assert sizes == [START, 2 * START, 3 * START // 2]  # then 128 apart: done
    by_size = {trial.global_batch_size: trial for trial in search.trials}
    assert by_size[START].fits and by_size[2 * START].status == OUT_OF_MEMORY
    assert by_size[2 * START].message  # the allocation that failed
    largest = search.largest_fitting
    assert largest in sizes and by_size[largest].fits
    next_tried = min(size for size in sizes if size > largest)
    assert by_size[next_tried].status == OUT_OF_MEMORY
    assert search.recommended_max == largest and search.chosen in sizes
    assert by_size[search.chosen].fits and search.chosen <= largest
    assert search.granularity == START // 2 and search.capped_at is None

    with open(os.path.join(output_dir, "batch_find.json")) as f:
        report = json.load(f)
    with open(os.path.join(output_dir, "batch_find.csv")) as f:
        rows = list(csv.DictReader(f))
    assert [row["global_batch_size"] for row in rows] == [str(size) for size in sizes]
    assert [trial["global_batch_size"] for trial in report["trials"]] == sizes
    assert report["largest_fitting"] == largest and report["settings"]["start"] == START
    assert sorted(os.listdir(os.path.join(output_dir, "trials"))) == sorted(map(str, sizes))
    assert os.path.getsize(os.path.join(output_dir, "batch_find.png")) > 10_000


def test_a_bad_config_stops_the_search_and_leaves_nothing(tmp_path):
    config = _config(tmp_path).replace(optimizer="no-such-optimizer")
    output_dir = str(tmp_path / "search")
    with pytest.raises(ValueError, match="unknown optimizer 'no-such-optimizer'"):
        find_batch_size(config, BatchSearchSettings(start=64, steps=1, warmup_steps=1), output_dir)
    assert not os.path.exists(output_dir)
