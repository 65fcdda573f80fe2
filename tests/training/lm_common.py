"""A tiny language model on a tiny text corpus, for the tests that train one (the trainer,
lr-find, the study): 1 layer, width 16, context 16."""

from __future__ import annotations

import numpy as np

from lbkeras.training import ExperimentConfig

CONTEXT, BATCH, STEPS = 16, 16, 30
WORDS = ["the", "large", "batch", "trains", "a", "model", "fast", "and", "well", "on", "text"]


def write_corpus(folder) -> list[bytes]:
    """25 files of sentences drawn from a few words (learnable); their bytes, by path."""
    rng = np.random.default_rng(0)
    contents = []
    for i in range(25):
        sentences = (" ".join(rng.choice(WORDS, 6)) + ".\n" for _ in range(20))
        contents.append("".join(sentences).encode())
        (folder / f"{i:02d}.txt").write_bytes(contents[-1])
    return contents


def config(tmp_path, **changes) -> ExperimentConfig:
    settings = {
        "model_dir": str(tmp_path / "run"),
        "model": "transformer_lm",
        "model_options": {"num_layers": 1, "width": 16, "num_heads": 2},
        "dataset": "text",
        "dataset_options": {"context": CONTEXT},
        "data_dir": str(tmp_path / "text"),
        "global_batch_size": BATCH,
        "optimizer": "adamw",
        "base_learning_rate": 0.01,
        "base_batch_size": BATCH,
        "weight_decay": 0.01,
        "warmup_epochs": 0.1,
        "train_tokens": STEPS * BATCH * CONTEXT,
        "steps_per_loop": 10,
        "verbose": 0,
    }
    return ExperimentConfig(**{**settings, **changes})
