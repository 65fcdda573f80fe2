"""The experiment runner: config -> strategy -> data -> model -> optimizer -> fit -> results.

Everything a run writes goes to ``config.model_dir``::

    config.json        the resolved config, written first
    logs/train, logs/validation   TensorBoard: losses, metrics, learning rate per step,
                       examples/second, and the hyper-parameters (HParams dashboard)
    backup/            BackupAndRestore state: a killed run restarted with the same
                       config resumes from the last finished epoch
    model.keras        the trained model, with optimizer state
    results.json       final metrics, steps, examples/second, wall time

Only the chief writes there; other workers keep their backups and final model under
``workers/TYPE-ID/``.
Files that must never be half-written (model, results) are written to a temporary
name and renamed.

Example:
    >>> results = run(ExperimentConfig(model_dir="/tmp/mnist1d"))
    >>> results["eval_accuracy"]
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import time
from collections.abc import Sequence
from typing import Any

import keras
import tensorflow as tf

from lbkeras import callbacks as lb_callbacks
from lbkeras import data, layers, models, optimizers, schedules
from lbkeras.atomic import write_atomically
from lbkeras.distribute import check_global_batch, keras_compat, make_strategy, worker_role
from lbkeras.training.config import ExperimentConfig
from lbkeras.training.recipe import build_optimizer, build_schedule, peak_learning_rate

_POLICIES = {"none": "float32", "float16": "mixed_float16", "bfloat16": "mixed_bfloat16"}


@dataclasses.dataclass(frozen=True)
class Plan:
    """The step arithmetic of a run."""

    steps_per_epoch: int
    epochs: int
    total_steps: int
    per_replica_batch_size: int
    num_replicas: int


def plan(config: ExperimentConfig, num_train: int, num_replicas: int) -> Plan:
    """Steps per epoch, epochs and total steps for ``config`` on ``num_train`` examples.

    ``epochs`` (fractions allowed) or ``train_steps`` fixes the total. Keras epochs are
    data epochs when the total is a multiple of a data epoch; otherwise slightly shorter
    ones (each a fresh shuffle), so that the run has exactly the total number of steps.
    """
    per_replica = check_global_batch(config.global_batch_size, num_replicas)
    data_epoch = schedules.steps_per_epoch(num_train, config.global_batch_size)
    total = config.train_steps or max(1, round(config.epochs * data_epoch))
    # Keras epochs of equal length that add up to exactly `total` steps: the largest
    # divisor of `total` not above a data epoch (equal to it whenever `total` allows).
    steps_per_epoch = max(d for d in range(1, min(total, data_epoch) + 1) if total % d == 0)
    epochs = total // steps_per_epoch
    return Plan(steps_per_epoch, epochs, total, per_replica, num_replicas)


def run(
    config: ExperimentConfig, callbacks: Sequence[keras.callbacks.Callback] = ()
) -> dict[str, Any]:
    """Trains and evaluates ``config``; returns (and writes) the results.

    ``callbacks`` are added to the trainer's own (monitoring, backup, NaN guard).

    Raises:
        ValueError: a bad config, dataset or strategy, with the fix in the message.
        lbkeras.callbacks.NonFiniteLossError: the loss became NaN or infinite.
    """
    if not config.model_dir:
        raise ValueError("model_dir is required: the folder for logs, checkpoints and results")
    _check_names(config)
    strategy = make_strategy(config.strategy, devices=config.devices, tpu=config.tpu or None)
    role = worker_role(strategy)
    dataset = data.get(config.dataset, data_dir=config.data_dir or None, **config.dataset_options)
    info = dataset.info
    steps = plan(config, info.num_train, strategy.num_replicas_in_sync)
    if config.ghost_batch_size and steps.per_replica_batch_size % config.ghost_batch_size:
        raise ValueError(
            f"ghost batch size {config.ghost_batch_size} does not divide the per-replica batch "
            f"{steps.per_replica_batch_size}"
        )
    for split in ("train", "eval"):  # missing or corrupt data fails before any write
        dataset.make(
            split, steps.per_replica_batch_size, training=split == "train", seed=config.seed
        )
    if steps.steps_per_epoch % config.accumulation_steps:
        raise ValueError(
            f"accumulation_steps {config.accumulation_steps} does not divide the "
            f"{steps.steps_per_epoch} steps of an epoch"
        )
    # The schedule counts optimizer updates: one per accumulation_steps micro-batches.
    schedule = build_schedule(
        config,
        steps.total_steps // config.accumulation_steps,
        steps.steps_per_epoch // config.accumulation_steps,
    )

    paths = _Paths(config.model_dir, role)
    initial_epoch = _backed_up_epoch(paths.backup)
    if not config.resume and initial_epoch:
        raise ValueError(
            f"model_dir {config.model_dir} holds a backup to resume from, and resume is off: "
            "use a new --model_dir, or --resume"
        )
    if role.is_chief:
        _check_model_dir(paths, config)
        os.makedirs(paths.root, exist_ok=True)
        write_atomically(paths.config, lambda f: f.write(config.to_json()))
    logging.info(
        "global batch %d over %d replicas (%d each): peak learning rate %g, %d steps "
        "(%d epochs of %d)",
        config.global_batch_size,
        steps.num_replicas,
        steps.per_replica_batch_size,
        peak_learning_rate(config),
        steps.total_steps,
        steps.epochs,
        steps.steps_per_epoch,
    )

    # Seeded here, after the data are ready: generating them must not shift the model's init.
    keras.utils.set_random_seed(config.seed)
    keras.mixed_precision.set_global_policy(_POLICIES[config.mixed_precision])
    try:
        with strategy.scope():
            model = models.get(
                config.model,
                input_shape=info.input_shape,
                num_classes=info.num_classes,
                **config.model_options,
            )
            if config.ghost_batch_size:
                model = layers.use_ghost_batch_norm(model, config.ghost_batch_size)
            if config.sam_rho:
                model = models.with_sam(model, config.sam_rho)
            one_hot = config.label_smoothing > 0 or getattr(dataset, "soft_labels", False)
            model.compile(
                optimizer=build_optimizer(config, schedule),
                loss=_loss(one_hot, config.label_smoothing),
                metrics=[
                    keras.metrics.CategoricalAccuracy(name="accuracy")
                    if one_hot
                    else keras.metrics.SparseCategoricalAccuracy(name="accuracy")
                ],
                jit_compile=config.jit_compile,
            )
        train = _distributed(
            strategy, dataset, "train", config, steps, initial_epoch, one_hot, info.num_classes
        )
        with strategy.scope():
            keras_compat.prebuild(model, train.element_spec)
        evaluation = _distributed(
            strategy, dataset, "eval", config, steps, 0, one_hot, info.num_classes
        )
        throughput = lb_callbacks.ThroughputLogger(
            paths.logs_train if role.is_chief else None, config.global_batch_size
        )
        callback_list = [
            lb_callbacks.StopOnNonFiniteLoss(),
            keras.callbacks.BackupAndRestore(
                paths.backup, double_checkpoint=True, delete_checkpoint=False
            ),
            throughput,
            *callbacks,
        ]
        if role.is_chief:
            callback_list += [
                lb_callbacks.LearningRateLogger(paths.logs_train),
                keras.callbacks.TensorBoard(paths.logs, update_freq="epoch"),
                lb_callbacks.HParamsLogger(paths.logs, _hparams(config)),
            ]
        start = time.perf_counter()
        history = model.fit(
            train,
            epochs=steps.epochs,
            steps_per_epoch=steps.steps_per_epoch,
            validation_data=evaluation if config.eval_every_epochs else None,
            validation_freq=max(1, config.eval_every_epochs),
            callbacks=callback_list,
            verbose=config.verbose,
        )
        wall = time.perf_counter() - start
        metrics = model.evaluate(evaluation, verbose=0, return_dict=True)
    finally:
        keras.mixed_precision.set_global_policy("float32")

    training = {
        "train_loss": _last(history.history.get("loss")),
        "train_accuracy": _last(history.history.get("accuracy")),
        "examples_per_second": throughput.examples_per_second,
        "wall_seconds": wall,
    }
    if not history.epoch and role.is_chief and os.path.exists(paths.results):
        # The backup says the run had finished: nothing was trained now, so the training
        # figures are the finished run's (evaluation is repeated, on the same weights).
        logging.info("the run in %s had finished; re-evaluated only", config.model_dir)
        with open(paths.results) as f:
            previous = json.load(f)
        training.update({key: previous[key] for key in training if key in previous})
    results = {
        "eval_loss": float(metrics["loss"]),
        "eval_accuracy": float(metrics["accuracy"]),
        **training,
        "steps": int(model.optimizer.iterations.numpy()),
        "epochs": steps.epochs,
        "global_batch_size": config.global_batch_size,
        "num_replicas": steps.num_replicas,
        "peak_learning_rate": peak_learning_rate(config),
    }
    # Every worker saves (as TF's multi-worker guide asks); only the chief's is the result.
    os.makedirs(os.path.dirname(paths.model), exist_ok=True)
    _save_model_atomic(model, paths.model)
    if role.is_chief:
        write_atomically(paths.results, lambda f: json.dump(results, f, indent=2, sort_keys=True))
    return results


def _check_names(config: ExperimentConfig) -> None:
    """Unknown model or optimizer names fail before anything is built or written."""
    models.MODELS.factory(config.model)
    optimizers.OPTIMIZERS.factory(config.optimizer)


class _Paths:
    def __init__(self, model_dir: str, role) -> None:
        self.root = model_dir
        self.config = os.path.join(model_dir, "config.json")
        self.results = os.path.join(model_dir, "results.json")
        self.logs = os.path.join(model_dir, "logs")
        self.logs_train = os.path.join(self.logs, "train")
        worker_dir = (
            model_dir
            if role.is_chief
            else os.path.join(model_dir, "workers", f"{role.task_type}-{role.task_id}")
        )
        self.model = os.path.join(worker_dir, "model.keras")
        self.backup = os.path.join(worker_dir, "backup")


def _check_model_dir(paths: _Paths, config: ExperimentConfig) -> None:
    """Refuses to mix two different experiments in one model_dir."""
    if not os.path.exists(paths.config):
        return
    with open(paths.config) as f:
        previous = json.load(f)
    current = json.loads(config.to_json())
    ignored = {"verbose", "resume", "model_dir"}  # a moved model_dir is the same run
    changed = sorted(k for k in current if k not in ignored and previous.get(k) != current[k])
    if changed:
        raise ValueError(
            f"model_dir {paths.root} holds a run with a different config ({', '.join(changed)}); "
            "use a new --model_dir, or the same flags to resume"
        )


def _backed_up_epoch(backup_dir: str) -> int:
    path = os.path.join(backup_dir, "training_metadata.json")
    if not os.path.exists(path):
        return 0
    with open(path) as f:
        return int(json.load(f)["epoch"])


def _distributed(strategy, dataset, split, config, steps, initial_epoch, one_hot, num_classes):
    """The split as a distributed dataset; training data are laid out epoch by epoch.

    Epoch ``e`` is shuffled with seed ``config.seed + e``, so a resumed run sees exactly
    the batches an uninterrupted one would.
    """
    training = split == "train"

    def dataset_fn(input_context: tf.distribute.InputContext) -> tf.data.Dataset:
        batch = input_context.get_per_replica_batch_size(config.global_batch_size)

        def make(seed):
            ds = dataset.make(
                split, batch, training=training, input_context=input_context, seed=seed
            )
            if one_hot and not getattr(dataset, "soft_labels", False):
                ds = ds.map(
                    lambda x, y: (x, tf.one_hot(y, num_classes)),
                    num_parallel_calls=tf.data.AUTOTUNE,
                )
            return ds

        if not training:
            return make(None)
        # repeat(): a worker whose file shard is a little short must not run dry first.
        epochs = [
            make(config.seed + e).repeat().take(steps.steps_per_epoch)
            for e in range(initial_epoch, steps.epochs)
        ]
        out = epochs[0] if epochs else make(config.seed).take(0)
        for ds in epochs[1:]:
            out = out.concatenate(ds)
        return out.prefetch(tf.data.AUTOTUNE)

    return strategy.distribute_datasets_from_function(dataset_fn)


def _loss(one_hot: bool, label_smoothing: float) -> keras.losses.Loss:
    if one_hot:
        return keras.losses.CategoricalCrossentropy(
            from_logits=True, label_smoothing=label_smoothing
        )
    return keras.losses.SparseCategoricalCrossentropy(from_logits=True)


def _hparams(config: ExperimentConfig) -> dict[str, Any]:
    keys = (
        "model",
        "dataset",
        "global_batch_size",
        "base_learning_rate",
        "base_batch_size",
        "lr_scaling",
        "optimizer",
        "schedule",
        "warmup_epochs",
        "epochs",
        "weight_decay",
        "label_smoothing",
        "trust_ratio",
        "trust_ratio_scale",
        "gradient_noise_eta",
        "agc_clipping",
        "lookahead_sync_period",
        "ghost_batch_size",
        "accumulation_steps",
        "sam_rho",
        "strategy",
        "mixed_precision",
        "seed",
    )
    hparams = {k: getattr(config, k) for k in keys}
    hparams["peak_learning_rate"] = peak_learning_rate(config)
    return hparams


def _last(values):
    return float(values[-1]) if values else float("nan")


def _save_model_atomic(model: keras.Model, path: str) -> None:
    tmp = os.path.join(os.path.dirname(path), ".tmp-model.keras")
    model.save(tmp)
    os.replace(tmp, path)
