"""Every recipe in configs/ parses through the trainer's flags into a valid, cited config."""

import glob
import os

import pytest

from lbkeras import models
from lbkeras.training import build_schedule, peak_learning_rate, plan
from lbkeras.training.claims import COMMAND_PREFIX, read_claim
from lbkeras.training.task import claim_metric
from tools import train as train_tool
from tools.common import experiment_config

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIGS = sorted(glob.glob(os.path.join(ROOT, "configs", "*.cfg")))
MEASURED = [
    path
    for path in CONFIGS
    if os.path.basename(path).startswith(("mnist1d_", "mnist1d128k_", "lm_"))
]
# Training examples of each recipe's dataset (unless its num_train option says otherwise):
# the text dataset's are the windows of 128 bytes of the default corpus (10,264,340 bytes,
# lbkeras/data/text.py).
NUM_TRAIN = {"mnist1d": 16_000, "imagenet": 1_281_167, "text": (10_264_340 - 1) // 128}


def _plan(config):
    tokens = config.dataset_options.get("context", 0) if config.dataset == "text" else 0
    num_train = config.dataset_options.get("num_train", NUM_TRAIN[config.dataset])
    return plan(config, num_train, num_replicas=1, tokens_per_example=tokens)


def _parse(path, *more_flags):
    """The trainer's config for the recipe at ``path`` and ``more_flags`` after it."""
    train_tool.FLAGS.unparse_flags()
    train_tool.FLAGS(["train", f"--flagfile={path}", "--model_dir=/unused", *more_flags])
    try:
        return experiment_config(train_tool.FLAGS)
    finally:
        train_tool.FLAGS.unparse_flags()


def test_there_are_recipes():
    names = {os.path.basename(path) for path in CONFIGS}
    assert {
        "goyal_resnet50_imagenet_8k.cfg",
        "lars_resnet50_imagenet_32k.cfg",
        "mlperf_resnet50_lars.cfg",
        "nado_nesterov_resnet50_32k.cfg",
        "mnist1d_lars_2k.cfg",
    } <= names


@pytest.mark.parametrize("path", CONFIGS, ids=os.path.basename)
def test_recipe_is_valid_and_cites_its_source(path):
    with open(path) as f:
        comments = " ".join(line for line in f if line.startswith("#"))
    assert any(year in comments for year in ("2017", "2018", "2020", "2021")), path
    config = _parse(path)
    steps = _plan(config)
    schedule = build_schedule(config, steps.total_steps, steps.steps_per_pass)
    assert float(schedule(steps.total_steps - 1)) >= 0


def test_published_numbers_reach_the_config():
    goyal = _parse(os.path.join(ROOT, "configs", "goyal_resnet50_imagenet_8k.cfg"))
    assert peak_learning_rate(goyal) == pytest.approx(3.2)
    assert goyal.decay_epochs == (30.0, 60.0, 80.0) and goyal.model_options == {
        "zero_init_residual_gamma": True
    }
    lars = _parse(os.path.join(ROOT, "configs", "lars_resnet50_imagenet_32k.cfg"))
    assert peak_learning_rate(lars) == 32.0 and lars.global_batch_size == 32768
    nado = _parse(os.path.join(ROOT, "configs", "nado_nesterov_resnet50_32k.cfg"))
    assert plan(nado, NUM_TRAIN["imagenet"], 1).total_steps == 2512


def test_later_flags_override_the_flagfile():
    path = os.path.join(ROOT, "configs", "mnist1d_lars_2k.cfg")
    assert _parse(path, "--global_batch_size=4096").global_batch_size == 4096


def test_there_are_language_model_recipes():
    assert {"lm_adamw_16.cfg", "lm_adamw_256.cfg", "lm_lamb_256.cfg"} <= {
        os.path.basename(path) for path in MEASURED
    }


@pytest.mark.parametrize("path", MEASURED, ids=os.path.basename)
def test_recipe_states_what_it_was_measured_to_reach(path):
    """The claim is in the form benchmarks/recipes.py reads, names the metric of the
    recipe's task (test accuracy, or a language model's eval bits per byte), with the
    command that measured it; the recipe trains on the full training set and is scored
    on the test (held-out) split."""
    name = os.path.basename(path)[: -len(".cfg")]
    claim = read_claim(path)
    assert claim is not None, f"{name}: no claim line; run benchmarks/recipes.py --update_claims"
    config = _parse(path)
    assert claim.metric == claim_metric(models.task(config.model)), claim
    # An accuracy above chance (0.1); bits per byte below a uniform guess's 8, with a
    # spread over seeds under 0.1 points of accuracy or 1 bit per byte.
    low, high, spread = (0.1, 1, 0.1) if claim.metric == "test accuracy" else (0.5, 8, 1)
    assert low < claim.value <= high and 0 <= claim.spread < spread and claim.seeds >= 3, claim
    with open(path) as f:
        commands = [line for line in f if line.startswith(COMMAND_PREFIX)]
    assert commands == [
        f"{COMMAND_PREFIX}python benchmarks/recipes.py --configs={name} --seeds={claim.seeds}\n"
    ]
    assert not config.dataset_options.get("validation"), "a claim is a test-set figure"
    assert not config.dataset_options.get("train_fraction"), "a claim is on the full corpus"
    assert _plan(config).total_steps == claim.steps
