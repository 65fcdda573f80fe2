"""ExperimentConfig: validation, serialisation, and the one definition the flags come from."""

import dataclasses

import pytest
from absl import flags

from lbkeras import distribute, scaling
from lbkeras.optimizers.trust_ratio import SCALES
from lbkeras.schedules import batch_size as batch_size_schedules
from lbkeras.schedules.warmup import KINDS
from lbkeras.training import ExperimentConfig
from lbkeras.training.config_flags import config_from_flags, define_flags

# A config with every setting away from its default (and the awkward values: floats
# that print long, a negative-looking exponent, lists, nested JSON, a bool turned off).
CHANGED = ExperimentConfig(
    model="mlp",
    model_options={"hidden_units": [64, 32], "batch_norm": True},
    dataset="synthetic",
    dataset_options={"input_shape": [8], "num_classes": 3},
    data_dir="/data/x",
    global_batch_size=4096,
    batch_schedule="ramp",
    batch_schedule_options={"start_batch_size": 512, "ramp_examples": 10**5, "doubling": True},
    beta_2_rule="half_life",
    weight_decay_rule="timescale",
    base_learning_rate=0.1 + 0.2,
    base_batch_size=512,
    lr_scaling="sqrt",
    optimizer="lookahead",
    optimizer_options={"optimizer": "lamb", "sync_period": 5},
    momentum=0.95,
    weight_decay=5e-05,
    schedule="step",
    schedule_power=1.5,
    decay_epochs=(30.0, 60.5, 80.0),
    decay_rate=0.2,
    end_learning_rate=1e-07,
    warmup_epochs=2.5,
    warmup_kind="polynomial",
    warmup_initial_learning_rate=0.01,
    epochs=90.0,
    train_steps=1234,
    label_smoothing=0.1,
    trust_ratio=0.001,
    trust_ratio_scale="gradient",
    gradient_noise_eta=0.3,
    agc=0.02,
    lookahead=6,
    accumulation_steps=4,
    sam_rho=0.05,
    ghost_batch_size=128,
    precise_bn_examples=4096,
    sync_batch_norm=False,
    adascale=True,
    monitor_every_steps=10,
    strategy="mirrored",
    devices=("/gpu:0", "/gpu:1"),
    tpu="local",
    mixed_precision="bfloat16",
    jit_compile=True,
    deterministic=False,
    model_dir="/runs/a",
    seed=7,
    steps_per_loop=100,
    eval_every_loops=3,
    backup_every_seconds=300.0,
    resume=False,
    divergence_factor=1e3,
    verbose=2,
)


def _flag_values():
    values = flags.FlagValues()
    define_flags(ExperimentConfig, values)
    return values


def test_choices_come_from_the_modules_that_own_them():
    choices = {f.name: f.metadata["choices"] for f in dataclasses.fields(ExperimentConfig)}
    assert choices["lr_scaling"] == scaling.RULES
    assert choices["strategy"] == distribute.STRATEGIES
    assert choices["trust_ratio_scale"] == SCALES
    assert choices["warmup_kind"] == KINDS
    assert choices["beta_2_rule"] == scaling.BETA_2_RULES
    assert choices["weight_decay_rule"] == scaling.WEIGHT_DECAY_RULES
    assert choices["batch_schedule"] == tuple(batch_size_schedules.names())


# train_tokens excludes train_steps, which CHANGED sets: a third config sets it instead.
@pytest.mark.parametrize(
    "config",
    [ExperimentConfig(), CHANGED, CHANGED.replace(train_steps=0, train_tokens=10**6)],
    ids=["defaults", "changed", "train_tokens"],
)
def test_config_json_to_flags_to_config_is_the_identity(config):
    assert all(
        getattr(CHANGED, f.name) != getattr(ExperimentConfig(), f.name)
        for f in dataclasses.fields(ExperimentConfig)
        # sync_batch_norm excludes ghost_batch_size, which CHANGED sets; see above.
        if f.name not in ("sync_batch_norm", "train_tokens")
    )
    from_json = ExperimentConfig.from_json(config.to_json())
    assert from_json == config
    values = _flag_values()
    values(["train", *from_json.to_flags()])
    assert config_from_flags(ExperimentConfig, values) == config


def test_unknown_config_keys_are_refused():
    with pytest.raises(ValueError, match="unknown config keys: lookahead_sync_period"):
        ExperimentConfig.from_json('{"lookahead_sync_period": 6}')


@pytest.mark.parametrize(
    "changes, message",
    [
        (dict(global_batch_size=0), "global_batch_size"),
        (dict(global_batch_size=-8), "global_batch_size"),
        (dict(epochs=0.0), "epochs"),
        (dict(base_learning_rate=float("nan")), "base_learning_rate"),
        (dict(base_learning_rate=-0.1), "base_learning_rate"),  # 0: the optimizer's default
        (dict(divergence_factor=-1.0), "divergence_factor"),
        (dict(lr_scaling="cubic"), "lr_scaling='cubic'; choose one of: linear, sqrt"),
        (dict(mixed_precision="int8"), "mixed_precision"),
        (dict(strategy="horovod"), "strategy='horovod'; choose one of: default"),
        (dict(schedule="triangle"), "schedule='triangle'; choose one of: polynomial"),
        (dict(momentum=1.0), "momentum"),
        (dict(label_smoothing=1.5), "label_smoothing"),
        (dict(decay_epochs=(60.0, 30.0)), "decay_epochs"),
        (dict(weight_decay=-1.0), "weight_decay"),
        (dict(backup_every_seconds=-1.0), "backup_every_seconds"),
        (dict(ghost_batch_size=64, sync_batch_norm=True), "exclude each other"),
    ],
)
def test_bad_values_name_the_field(changes, message):
    with pytest.raises(ValueError, match=message):
        ExperimentConfig(**changes)


def test_train_steps_replace_epochs():
    config = ExperimentConfig().replace(epochs=0.0, train_steps=100)
    assert config.train_steps == 100


def test_hyperparameters_leave_out_how_a_run_behaves():
    hparams = CHANGED.hyperparameters()
    assert "model_dir" not in hparams and "verbose" not in hparams
    assert "divergence_factor" not in hparams  # a resumed run may change it
    assert hparams["global_batch_size"] == 4096 and hparams["decay_epochs"] == "[30.0, 60.5, 80.0]"
    assert all(isinstance(v, (bool, int, float, str)) for v in hparams.values())
