"""What every console script shares (tools/common.py): --help by topic with the tool's own
flags only, no TensorFlow start-up lines, the default run folder, one-line errors."""

import dataclasses
import os
import re
import subprocess
import sys

import pytest

from lbkeras.training import ExperimentConfig
from tests.tools.cli import ROOT, environment, tool_in_process
from tools import batch_find, critical_batch, lr_find, sharpness, study, train
from tools.common import new_run_dir, parse_flags

# An mlp on 64 synthetic examples at batch 16: 4 steps per pass.
TINY = (
    "--model=mlp",
    '--model_options={"hidden_units": [8]}',
    "--dataset=synthetic",
    '--dataset_options={"input_shape": [4], "num_classes": 2, "num_train": 64, "num_eval": 16}',
    "--global_batch_size=16",
    "--epochs=1",
    "--warmup_epochs=0.5",
    "--verbose=0",
)
TRAINER_TOPICS = [
    "experiment",
    "batch and learning rate",
    "optimizer",
    "schedule",
    "length",
    "large-batch aids",
    "measuring",
    "distribution",
    "outputs",
]
#: Each tool's own flags: no other tool lists them.
OWN = {
    train: {"dry_run"},
    lr_find: {"min_lr", "max_lr", "num_steps", "stop_factor", "recommend"},
    batch_find: {"start", "max_batch_size", "margin", "memory_limit_mb"},
    study: {"recipes", "batch_sizes", "target", "trials"},
    critical_batch: {"branch_at", "multipliers", "branch_passes", "tolerance"},
    sharpness: {"run_dir", "epsilon", "power_iterations", "sharpness_seed"},
}
#: What TensorFlow prints from C++ while it starts, on a machine without GPUs.
START_UP_LINES = re.compile(
    r"oneDNN|cuInit|cuda drivers|cudart_stub|cpu_feature_guard|absl::InitializeLog|"
    r"rebuild TensorFlow"
)


def _topics(help_text: str) -> dict[str, list[str]]:
    """The flags of each topic of a --help text, topics in order."""
    topics: dict[str, list[str]] = {}
    for line in help_text.split("\nFlags (", 1)[1].splitlines()[1:]:
        if re.fullmatch(r"\S[^:]*:", line):
            topic = topics.setdefault(line[:-1], [])
        elif found := re.match(r"  --(?:\[no\])?(\w+):", line):
            topic.append(found.group(1))
    return topics


def _help(module, program: str, capsys) -> str:
    with pytest.raises(SystemExit) as exit:
        parse_flags(program, module.FLAGS, module.__doc__, [program, "--help"])
    assert exit.value.code == 0
    return capsys.readouterr().out


def test_every_setting_has_a_topic():
    for field in dataclasses.fields(ExperimentConfig):
        assert field.metadata["group"] in TRAINER_TOPICS, (
            f"ExperimentConfig.{field.name}: give setting(..., group=...) one of the topics "
            "in lbkeras/training/config.py"
        )


def test_trainer_help_lists_every_setting_by_topic(capsys):
    text = _help(train, "lbkeras-train", capsys)
    assert text.startswith("lbkeras-train: train a model") and "Try --helpfull" not in text
    topics = _topics(text)
    assert list(topics) == TRAINER_TOPICS
    for field in dataclasses.fields(ExperimentConfig):
        assert field.name in topics[field.metadata["group"]], field.name
    assert "config" in topics["experiment"] and "dry_run" in topics["outputs"]
    assert not {"logtostderr", "test_srcdir", "only_check_args"} & set(sum(topics.values(), []))


@pytest.mark.parametrize(
    "module, program, own_topic",
    [
        (lr_find, "lbkeras-lr-find", "range test"),
        (batch_find, "lbkeras-batch-find", "batch search"),
        (study, "lbkeras-study", "study"),
        (critical_batch, "lbkeras-critical-batch", "branches"),
    ],
)
def test_tuning_tools_list_their_own_flags_then_the_trainers(module, program, own_topic, capsys):
    topics = _topics(_help(module, program, capsys))
    assert list(topics) == [own_topic, *TRAINER_TOPICS]
    listed = set(sum(topics.values(), []))
    assert OWN[module] <= set(topics[own_topic])
    assert {field.name for field in dataclasses.fields(ExperimentConfig)} <= listed
    for other in set(OWN) - {module}:
        assert not OWN[other] & listed, other.__name__


def test_sharpness_help_lists_only_its_own_flags():
    done = subprocess.run(
        [sys.executable, "-m", "tools.sharpness", "--help"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
        env=environment(),
    )
    assert done.returncode == 0, done.stderr[-3000:]
    topics = _topics(done.stdout)
    assert list(topics) == ["experiment", "measuring"]
    assert set(topics["experiment"]) == {"run_dir", "data_dir"}
    assert OWN[sharpness] - {"run_dir"} <= set(topics["measuring"])
    assert len(topics["measuring"]) == len(dataclasses.fields(sharpness.SharpnessSettings))


def test_default_run_folder_and_no_tensorflow_start_up_lines(tmp_path):
    env = environment()
    env.pop("TF_CPP_MIN_LOG_LEVEL")  # the tool's own silencing, not the test's
    done = subprocess.run(
        [sys.executable, "-m", "tools.train", *TINY, "--dry_run"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
        env=env,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert not START_UP_LINES.search(done.stderr), done.stderr
    (run,) = os.listdir(tmp_path / "runs")
    assert re.fullmatch(r"\d{8}-\d{6}", run)
    assert os.listdir(tmp_path / "runs" / run) == ["learning_rate.png"]
    assert re.search(rf"^plot +runs/{run}/learning_rate.png$", done.stdout, re.MULTILINE)


def test_a_run_says_where_its_files_are_and_how_to_see_them(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert tool_in_process(train, "lbkeras-train", *TINY) == 0
    (run,) = os.listdir("runs")
    model_dir = os.path.join("runs", run)
    lines = capsys.readouterr().out.splitlines()
    assert lines[-4:] == [
        f"logs:    {model_dir}/logs",
        f"model:   {model_dir}/model.keras",
        f"results: {model_dir}/results.json",
        f"see the curves: tensorboard --logdir {model_dir}/logs",
    ]
    assert os.listdir(os.path.join(model_dir, "logs", "train"))
    assert os.path.isfile(os.path.join(model_dir, "model.keras"))
    assert os.path.isfile(os.path.join(model_dir, "results.json"))


def test_bad_input_leaves_no_empty_run_folder(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert tool_in_process(train, "lbkeras-train", *TINY, "--model=nope") == 2
    assert "unknown model 'nope'" in capsys.readouterr().err
    assert os.listdir("runs") == []


def test_runs_started_in_the_same_second_get_their_own_folders(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    folders = [new_run_dir() for _ in range(3)]
    assert sorted(os.listdir("runs")) == sorted(os.path.basename(f) for f in folders)
    names = [re.fullmatch(r"runs/(\d{8}-\d{6})(?:-(\d+))?", folder) for folder in folders]
    seconds = [name.group(1) for name in names]
    for stamp in set(seconds):  # the second folder of a second is -2, the third -3
        numbered = [int(name.group(2) or 1) for name in names if name.group(1) == stamp]
        assert numbered == list(range(1, len(numbered) + 1)), folders


@pytest.mark.parametrize(
    "module, program, flags",
    [
        (train, "lbkeras-train", ["--flagfile=configs/nope.cfg"]),
        (study, "lbkeras-study", ["--recipes=configs/nope.cfg", "--model_dir=unused"]),
    ],
)
def test_a_missing_flagfile_lists_the_recipes(module, program, flags, monkeypatch, capsys):
    monkeypatch.chdir(ROOT)
    assert tool_in_process(module, program, *flags) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert re.search(
        r"error: (--recipes: )?no flagfile configs/nope.cfg; the recipes are: "
        r"configs/goyal_resnet50_imagenet_8k.cfg, .*configs/mnist1d_lars_2k.cfg",
        line,
    ), line
    assert not os.path.exists("unused")
