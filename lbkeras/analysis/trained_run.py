"""The sharpness of the minimum a trainer run reached, measured from its model_dir.

:func:`sharpness_of_run` loads ``model_dir/model.keras`` (the trained model, as
:func:`lbkeras.training.run` saves it; lbkeras's layers, models and optimizers are
registered serializable, so importing them is all loading needs), rebuilds the training
data from ``model_dir/config.json``, measures both sharpness measures
(:func:`~lbkeras.analysis.sharpness.measure_sharpness`) on a fixed set of training batches
and writes them to ``model_dir/sharpness.json`` (atomically: complete or absent).

The batches (:func:`training_batches`) are the first ``num_batches`` batches of
``batch_size`` examples of the training split in the source's own fixed order, read as
for evaluation (``training=False``: no shuffling, no augmentation), so every measurement
of a run (and of every run on the same data) sees the same examples. Labels take the
form the model was trained on: one-hot when its loss is a categorical cross-entropy (the
trainer's choice with label smoothing, and for MixUp/CutMix sources), class ids otherwise.

References:
    Keskar et al., "On Large-Batch Training for Deep Learning: Generalization Gap and
    Sharp Minima", ICLR 2017, https://arxiv.org/abs/1609.04836

Example:
    >>> import json, tempfile
    >>> from lbkeras.training import ExperimentConfig, run
    >>> config = ExperimentConfig(model_dir=tempfile.mkdtemp(), model="mlp",
    ...     model_options={"hidden_units": [8]}, dataset="synthetic",
    ...     dataset_options={"input_shape": [4], "num_classes": 2, "num_train": 64,
    ...                      "num_eval": 32}, global_batch_size=16, epochs=1,
    ...     warmup_epochs=0, verbose=0)
    >>> _ = run(config)
    >>> measured = sharpness_of_run(config.model_dir, SharpnessSettings(
    ...     num_batches=2, batch_size=32, ascent_steps=3, power_iterations=10))
    >>> measured["num_examples"], sorted(measured) == sorted(json.load(
    ...     open(os.path.join(config.model_dir, SHARPNESS_FILE))))
    (64, True)
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import time
from typing import Any

import keras
import numpy as np
import tensorflow as tf

import lbkeras.layers  # noqa: F401  (registers the serializable custom objects)
import lbkeras.models  # noqa: F401
import lbkeras.optimizers  # noqa: F401
from lbkeras import data
from lbkeras.analysis.sharpness import measure_sharpness
from lbkeras.atomic import write_text
from lbkeras.checks import check_float, check_int
from lbkeras.training.config import ExperimentConfig, setting

__all__ = ["SHARPNESS_FILE", "SharpnessSettings", "sharpness_of_run", "training_batches"]

SHARPNESS_FILE = "sharpness.json"


@dataclasses.dataclass(frozen=True)
class SharpnessSettings:
    """How to measure a run's sharpness (the flags of ``lbkeras-sharpness``)."""

    epsilon: float = setting(
        1e-3, "Relative size of the epsilon-sharpness box (Keskar: 1e-3, 5e-4)."
    )
    num_batches: int = setting(4, "Training batches the loss is measured on (the first ones).")
    batch_size: int = setting(1000, "Examples per measured batch.")
    ascent_steps: int = setting(20, "Most projected-ascent steps from each start.")
    ascent_restarts: int = setting(
        0, "Random box vertices to start the ascent from, besides the two fixed starts."
    )
    power_iterations: int = setting(100, "Most power iterations for the top Hessian eigenvalue.")
    power_tolerance: float = setting(1e-4, "Relative change at which the power iteration stops.")
    sharpness_seed: int = setting(0, "Seed of the power iteration's start and the restarts.")

    def __post_init__(self) -> None:
        check_float("epsilon", self.epsilon, positive=True)
        check_float("power_tolerance", self.power_tolerance, positive=True)
        for name in ("num_batches", "batch_size", "ascent_steps", "power_iterations"):
            check_int(name, getattr(self, name), positive=True)
        check_int("ascent_restarts", self.ascent_restarts)
        check_int("sharpness_seed", self.sharpness_seed)


def sharpness_of_run(
    model_dir: str, settings: SharpnessSettings | None = None, data_dir: str | None = None
) -> dict[str, Any]:
    """Measures the sharpness of the model a run in ``model_dir`` trained; writes it.

    Args:
        model_dir: a trainer run's folder (``config.json`` and ``model.keras``).
        settings: default: ``SharpnessSettings()``.
        data_dir: the dataset's folder, if not (or no longer) the run's ``data_dir``.

    Returns:
        What :func:`~lbkeras.analysis.sharpness.measure_sharpness` returns, with the
        settings and the wall time, as written to ``model_dir/sharpness.json``.

    Raises:
        FileNotFoundError: ``model_dir`` or its ``config.json`` or ``model.keras`` is missing.
        ValueError: an unreadable config, or fewer training examples than one batch.
    """
    settings = settings or SharpnessSettings()
    config = _run_config(model_dir)
    model_path = os.path.join(model_dir, "model.keras")
    if not os.path.isfile(model_path):
        raise FileNotFoundError(f"no model.keras in {model_dir}: has the run finished?")
    start = time.perf_counter()
    model = keras.saving.load_model(model_path)
    batches = training_batches(config, model, settings.num_batches, settings.batch_size, data_dir)
    measured = measure_sharpness(
        model,
        batches,
        epsilon=settings.epsilon,
        ascent_steps=settings.ascent_steps,
        restarts=settings.ascent_restarts,
        power_iterations=settings.power_iterations,
        tolerance=settings.power_tolerance,
        seed=settings.sharpness_seed,
    )
    measured.update(settings=dataclasses.asdict(settings), wall_seconds=time.perf_counter() - start)
    if not all(math.isfinite(v) for v in measured.values() if isinstance(v, float)):
        raise ValueError(f"non-finite sharpness of the model in {model_dir}: {measured}")
    write_text(
        os.path.join(model_dir, SHARPNESS_FILE), json.dumps(measured, indent=2, sort_keys=True)
    )
    return measured


def training_batches(
    config: ExperimentConfig,
    model: keras.Model,
    num_batches: int,
    batch_size: int,
    data_dir: str | None = None,
) -> list[tuple[np.ndarray, np.ndarray]]:
    """The first ``num_batches`` training batches of ``config``'s data, fixed (module docstring).

    Fewer batches (the last one short) when the training split is smaller.

    Raises:
        ValueError: missing data, or labels the model's loss cannot take.
    """
    source = data.get(
        config.dataset, data_dir=data_dir or config.data_dir or None, **config.dataset_options
    )
    ds = source.make("train", batch_size, training=False, seed=0, drop_remainder=False)
    one_hot = isinstance(getattr(model, "loss", None), keras.losses.CategoricalCrossentropy)
    batches = []
    for x, y in ds.take(num_batches):
        if one_hot and y.shape.rank == 1:
            y = tf.one_hot(y, source.info.num_classes)
        batches.append((x.numpy(), y.numpy()))
    if not batches:
        raise ValueError(f"the training split of {config.dataset} is empty")
    return batches


def _run_config(model_dir: str) -> ExperimentConfig:
    if not os.path.isdir(model_dir):
        raise FileNotFoundError(f"no such run folder: {model_dir}")
    path = os.path.join(model_dir, "config.json")
    if not os.path.isfile(path):
        raise FileNotFoundError(f"no config.json in {model_dir}: is it a trainer run's folder?")
    try:
        with open(path) as f:
            return ExperimentConfig.from_json(f.read())
    except (OSError, ValueError) as error:
        raise ValueError(f"{path}: {error}") from None
