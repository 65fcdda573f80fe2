"""lbkeras/tuning/probe.py: the config a batch-size probe runs (the probe itself runs in
batch_finder_test.py, in its own process)."""

from lbkeras.training.config import ExperimentConfig
from lbkeras.training.plan import plan
from lbkeras.tuning.probe import probe_config


def test_the_probe_reads_as_many_micro_batches_as_asked_with_any_accumulation():
    config = ExperimentConfig(
        accumulation_steps=2,
        optimizer="gradient_accumulation",
        optimizer_options={"optimizer": "lars", "steps": 3},
        warmup_epochs=1.0,
        schedule="step",
        decay_epochs=(2.0,),
    )
    probe = probe_config(config, 64, fit_steps=12)
    assert probe.global_batch_size == 64 and probe.train_steps == 2  # 2 updates of 6 micro-batches
    assert plan(probe, 16_000, num_replicas=1).total_fit_steps == 12
    assert probe.warmup_epochs == 0.0 and probe.schedule == "constant"
