"""The experiment runner: config -> strategy -> data -> model -> optimizer -> fit -> results.

:func:`run` is four named stages: :func:`prepare` (check everything and resolve the
strategy, data and plan, before anything is written), :func:`build` (model, optimizer,
input, restored backup), :func:`train` (``model.fit`` with the callbacks, then the
final evaluation) and :func:`report` (results and the model). Everything a run writes
goes to ``config.model_dir`` through :class:`~lbkeras.training.outputs.Outputs`, the one
place that knows that only the chief writes there::

    config.json        the resolved config, written first
    logs/train         TensorBoard: loss, accuracy (and for language models bits per
                       byte), learning rate per step, examples/second
    logs/eval          eval loss and accuracy (bits per byte), every --eval_every_loops
                       loops, and the HParams session (compared on the last eval accuracy/loss)
    backup/            the newest backups: a killed run restarted with the same config
                       resumes exactly where the last one was taken (one taken after
                       the last loop leaves only the model and results to write)
    model.keras        the trained model, with optimizer state
    results.json       final metrics, steps, passes, examples/second, wall time (language
                       models: eval_bits_per_byte, tokens_per_step, tokens, tokens/second)

Every scalar is on the optimizer-step axis. Other workers keep their backups and model
under ``workers/TYPE-ID/``. Rerunning a complete run (a job scheduler restarts finished
jobs) trains and writes nothing and returns its results.

Example:
    >>> import os, tempfile
    >>> config = ExperimentConfig(model_dir=tempfile.mkdtemp(), model="mlp",
    ...     model_options={"hidden_units": [8]}, dataset="synthetic",
    ...     dataset_options={"input_shape": [4], "num_classes": 2, "num_train": 64,
    ...                      "num_eval": 32}, global_batch_size=16, epochs=2,
    ...     warmup_epochs=1, verbose=0)
    >>> results = run(config)
    >>> results["steps"], results["passes"], sorted(os.listdir(config.model_dir))
    (8, 2.0, ['backup', 'config.json', 'logs', 'model.keras', 'results.json'])
"""

from __future__ import annotations

import dataclasses
import logging
import math
import time
import warnings
from collections.abc import Sequence
from typing import Any

import keras
import tensorflow as tf

from lbkeras import callbacks as lb_callbacks
from lbkeras import data, determinism, layers, models, optimizers
from lbkeras.callbacks.precise_batch_norm import batch_norm_layers
from lbkeras.distribute import across_workers, keras_compat, make_strategy, worker_role
from lbkeras.monitoring.batch_growth import GrowBatchSize
from lbkeras.monitoring.logger import AdaScaleProgress, GradientStatisticsLogger
from lbkeras.optimizers.wrapper import find_in_chain
from lbkeras.schedules.batch_size import AdaptiveBatchSize
from lbkeras.training import batch_schedule, task
from lbkeras.training.config import ExperimentConfig
from lbkeras.training.input import input_data
from lbkeras.training.outputs import Outputs, check_model_dir
from lbkeras.training.plan import Plan, plan, total_examples
from lbkeras.training.precision import mixed_precision
from lbkeras.training.recipe import (
    adam_scaling,
    base_optimizer_name,
    build_optimizer,
    build_schedule,
)


@dataclasses.dataclass(frozen=True)
class Prepared:
    """What :func:`prepare` resolved: all checked, nothing written yet."""

    config: ExperimentConfig
    strategy: tf.distribute.Strategy
    source: data.Dataset
    plan: Plan
    schedule: keras.optimizers.schedules.LearningRateSchedule
    outputs: Outputs
    initial_loop: int
    #: The run has finished and written its model and results (on every worker).
    complete: bool = False

    @property
    def one_hot(self) -> bool:
        """Labels one-hot: label smoothing or a soft-label (MixUp/CutMix) source."""
        return self.config.label_smoothing > 0 or self.source.soft_labels


@dataclasses.dataclass
class Trained:
    """What :func:`train` measured."""

    model: keras.Model
    history: keras.callbacks.History
    eval_metrics: dict[str, float]
    #: train_loss, train_accuracy, examples_per_second, wall_seconds
    training: dict[str, float]
    #: ``fit`` stopped where an adaptive batch schedule grew the batch (nothing else set).
    grew: bool = False


def run(
    config: ExperimentConfig, callbacks: Sequence[keras.callbacks.Callback] = ()
) -> dict[str, Any]:
    """Trains and evaluates ``config``; returns (and writes) the results.

    ``callbacks`` are added to the trainer's own (monitoring, backup, NaN guard).

    Raises:
        ValueError: a bad config, dataset or strategy, with the fix in the message.
        lbkeras.callbacks.NonFiniteLossError: the loss became NaN or infinite, or (its
            subclass ``LossDivergedError``) a loop's mean loss rose above
            ``config.divergence_factor`` x ln(num_classes).
    """
    prepared = prepare(config)
    if prepared.complete:
        logging.info(
            "the run in %s is complete: its results are in %s; nothing to train",
            config.model_dir,
            prepared.outputs.results_path,
        )
        return prepared.outputs.read_results()
    prepared.outputs.write_config(config)
    with mixed_precision(config.mixed_precision):
        while True:
            model, train_data, eval_data = build(prepared)
            trained = train(prepared, model, train_data, eval_data, callbacks)
            if not trained.grew:
                break
            # An adaptive schedule grew the batch at the loop just backed up: go on from
            # that backup with the new plan, as a resumed run would.
            prepared = prepare(config, prepared.strategy)
    return report(prepared, trained)


def prepare(config: ExperimentConfig, strategy: tf.distribute.Strategy | None = None) -> Prepared:
    """Checks ``config`` against its strategy, data and model_dir; writes nothing.

    ``strategy``: the strategy of a run that goes on in this process (an adaptive batch
    schedule's next plan, from the backup of the loop where it grew the batch); None
    starts one.

    Raises:
        ValueError: naming the problem and the fix (unknown names, a batch that does
            not split, warmup longer than training, missing or corrupt data, a
            model_dir holding another run or that is a file).
    """
    going_on = strategy is not None
    if not config.model_dir:
        raise ValueError("model_dir is required: the folder for logs, backups and results")
    check_model_dir(config.model_dir)
    if config.deterministic and not going_on:  # before the strategy starts TensorFlow's runtime
        determinism.run_ops_one_at_a_time()
    models.MODELS.factory(config.model)
    optimizers.OPTIMIZERS.factory(base_optimizer_name(config))
    adam_scaling(config)
    batch_schedule.check_batch_schedule(config)
    if strategy is None:
        strategy = make_strategy(config.strategy, devices=config.devices, tpu=config.tpu or None)
    source = data.get(config.dataset, data_dir=config.data_dir or None, **config.dataset_options)
    task.check_task(config, source.info)
    outputs = Outputs(config.model_dir, worker_role(strategy))
    outputs.check_same_run(config)
    initial_loop = _agreed_backup(strategy, outputs.latest_backup())
    steps = plan(
        config,
        source.info.num_train,
        strategy.num_replicas_in_sync,
        source.info.tokens_per_example,
        outputs.backup_record(initial_loop).get(lb_callbacks.STATE_KEY) if initial_loop else None,
    )
    for stage in steps.stages if config.ghost_batch_size else ():
        per_replica = stage.batch_size // steps.num_replicas
        if per_replica % config.ghost_batch_size:
            raise ValueError(
                f"ghost batch size {config.ghost_batch_size} does not divide the per-replica "
                f"batch {per_replica}: choose a divisor for --ghost_batch_size"
            )
    if config.adascale and steps.num_replicas * steps.accumulation_steps < 2:
        raise ValueError(
            "adascale needs 2 or more small-batch gradients per step: use several replicas "
            "or --accumulation_steps=2 or more"
        )
    schedule = _learning_rate(config, steps)
    for split in ("train", "eval"):  # missing or corrupt data fail before any write
        source.make(split, steps.per_replica_batch_size, training=split == "train", seed=0)
    if initial_loop and not config.resume and not going_on:
        raise ValueError(
            f"model_dir {config.model_dir} holds a backup to resume from, and resume is off: "
            "use a new --model_dir, or --resume"
        )
    complete = initial_loop > 0 and min(across_workers(strategy, int(outputs.complete()))) > 0
    logging.info(
        "global batch %d over %d replicas (%d each): peak learning rate %g, %d steps "
        "(%.2f passes over %d examples) in %d loops of %d",
        config.global_batch_size,
        steps.num_replicas,
        steps.per_replica_batch_size,
        steps.peak_learning_rate,
        steps.total_steps,
        steps.passes,
        source.info.num_train,
        steps.loops,
        steps.steps_per_loop,
    )
    if steps.scheduled:
        logging.info(
            "batch schedule %s: %s",
            config.batch_schedule,
            ", ".join(f"{s.batch_size} from step {s.first_step}" for s in steps.stages),
        )
    if steps.tokens_per_step:
        logging.info(
            "an example is a sequence of %d tokens: %d tokens per step%s, %d in all",
            source.info.tokens_per_example,
            steps.tokens_per_step,
            " at the largest batch" if steps.scheduled else "",
            steps.total_tokens,
        )
    return Prepared(config, strategy, source, steps, schedule, outputs, initial_loop, complete)


def _learning_rate(
    config: ExperimentConfig, steps: Plan
) -> keras.optimizers.schedules.LearningRateSchedule:
    """Warmup and decay: in steps at one batch, in examples under a batch schedule."""
    if steps.batch_size_schedule is None:
        return build_schedule(config, steps.schedule_steps, steps.schedule_steps_per_pass)
    return batch_schedule.learning_rate(
        config,
        steps.batch_size_schedule,
        steps.stages,
        steps.num_train,
        total_examples(config, steps.num_train, steps.tokens_per_example),
    )


def build(prepared: Prepared) -> tuple[keras.Model, Any, Any]:
    """The compiled model (restored from the backup, if any) and the distributed input."""
    config, strategy = prepared.config, prepared.strategy
    info = prepared.source.info
    # Seeded here, after the data are ready: generating them must not shift the model's init.
    keras.utils.set_random_seed(config.seed)
    with strategy.scope():
        model = models.get(
            config.model,
            input_shape=info.input_shape,
            num_classes=info.num_classes,
            **config.model_options,
        )
        if config.ghost_batch_size:
            model = layers.use_ghost_batch_norm(model, config.ghost_batch_size)
        if config.sync_batch_norm:
            model = layers.use_sync_batch_norm(model)
        if config.sam_rho:
            model = models.with_sam(model, config.sam_rho)
        model.compile(
            optimizer=build_optimizer(config, prepared.schedule, _monitor_capacity(prepared)),
            loss=task.loss(prepared.one_hot, config.label_smoothing),
            metrics=task.metrics(prepared.one_hot, prepared.source.info.task),
            jit_compile=config.jit_compile,
        )
    train_data, eval_data = input_data(prepared)
    with strategy.scope():
        keras_compat.prebuild(model, train_data.element_spec)
        if prepared.initial_loop:
            prepared.outputs.restore(model, prepared.initial_loop)
    return model, train_data, eval_data


def train(
    prepared: Prepared,
    model: keras.Model,
    train_data: Any,
    eval_data: Any,
    extra_callbacks: Sequence[keras.callbacks.Callback] = (),
) -> Trained:
    """``model.fit`` over the plan's loops, then the final evaluation (logged too).

    A run restarted after the backup of its last loop has nothing left to train: that
    backup's record gives the training figures (and the eval metrics, if the last
    loop evaluated).
    """
    config, steps = prepared.config, prepared.plan
    writers = prepared.outputs.writers()
    throughput = lb_callbacks.ThroughputLogger(
        writers("train") if writers else None, steps.examples_before
    )
    metrics_logger = (
        lb_callbacks.MetricsLogger(writers("train"), writers("eval")) if writers else None
    )
    start = time.perf_counter()

    def figures() -> dict[str, float]:  # of the training so far; kept with every backup
        return {
            "examples_per_second": throughput.examples_per_second,
            "wall_seconds": time.perf_counter() - start,
        }

    growth = _batch_growth(prepared)
    precise = _precise_batch_norm(prepared, model)
    callbacks = _callbacks(
        prepared,
        writers,
        throughput,
        figures,
        [metrics_logger, precise, *extra_callbacks],
        growth,
    )
    try:
        with warnings.catch_warnings():
            # The last loop may be shorter: the input ends exactly at the last step.
            warnings.filterwarnings("ignore", message="Your input ran out of data")
            history = model.fit(
                train_data,
                initial_epoch=prepared.initial_loop,
                epochs=steps.loops,
                steps_per_epoch=steps.fit_steps_per_loop,
                validation_data=eval_data if config.eval_every_loops else None,
                validation_freq=max(1, config.eval_every_loops),
                callbacks=callbacks,
                verbose=config.verbose,
                shuffle=False,  # the stream shuffles each pass (lbkeras.data.stream)
            )
        if growth is not None and growth.grew:
            return Trained(model, history, {}, {}, grew=True)
        # The last loop's logs as its backup keeps them, alike whether this process
        # trained it or one killed after the backup did.
        final_loop = history.epoch[-1] + 1 if history.epoch else prepared.initial_loop
        last = prepared.outputs.backup_record(final_loop)
        if history.epoch:
            last.update(figures())
        eval_metrics = _final_eval(model, last, eval_data, [precise] if precise else [])
        if metrics_logger is not None and eval_metrics.pop("_new", False):
            metrics_logger.write_eval(eval_metrics, int(model.optimizer.iterations.numpy()))
    finally:
        if writers:
            writers.close()
    training = {
        "train_loss": last.get("loss", math.nan),
        "train_accuracy": last.get("accuracy", math.nan),
        **({"train_bits_per_byte": last["bits_per_byte"]} if "bits_per_byte" in last else {}),
        "examples_per_second": last.get("examples_per_second", math.nan),
        "wall_seconds": last.get("wall_seconds", math.nan),
    }
    return Trained(model, history, eval_metrics, training)


def _callbacks(
    prepared: Prepared, writers, throughput, figures, own: list, growth=None
) -> list[keras.callbacks.Callback]:
    """The trainer's callbacks, in order: the NaN and divergence guard first (such an
    epoch must not be backed up), the throughput (its mean so far, in ``figures``, goes
    into the backup), an adaptive batch schedule's decisions (its state goes into the
    backup), the backup, ``own`` (measuring), then what only the chief writes."""
    config, steps, outputs = prepared.config, prepared.plan, prepared.outputs
    num_classes = prepared.source.info.num_classes
    callbacks = [
        lb_callbacks.StopOnNonFiniteLoss(
            lb_callbacks.divergence_limit(num_classes, config.divergence_factor),
            f"{config.divergence_factor:g} x ln({num_classes} classes), "
            "the loss of a uniform prediction: --divergence_factor",
        ),
        throughput,
        *([growth] if growth is not None else []),
        lb_callbacks.Backup(
            outputs.backup_dir,
            every_seconds=config.backup_every_seconds,
            figures=figures,
            state=growth.state if growth is not None else None,
        ),
        *(callback for callback in own if callback is not None),
    ]
    if writers:
        if not config.adascale:  # with AdaScale the rate is the gain times the rate at tau
            callbacks.append(lb_callbacks.LearningRateLogger(writers("train")))
        callbacks.append(lb_callbacks.HParamsLogger(writers("eval"), _hparams(prepared)))
        if config.monitor_every_steps:
            callbacks.append(GradientStatisticsLogger(writers("train"), _small_batch_size(steps)))
    if config.adascale:
        callbacks.append(
            AdaScaleProgress(writers("train") if writers else None, steps.schedule_steps)
        )
    if steps.batch_size_schedule is not None:
        callbacks.extend(_batch_schedule_callbacks(prepared, writers))
    return callbacks


def _small_batch_size(steps: Plan):
    """One replica's micro-batch at an optimizer step: the noise scale's small batch."""
    return lambda step: (
        steps.stage_at(step).batch_size // (steps.num_replicas * steps.accumulation_steps)
    )


def _precise_batch_norm(
    prepared: Prepared, model: keras.Model
) -> lb_callbacks.PreciseBatchNorm | None:
    """The callback that recomputes the batch-norm statistics before each evaluation
    (``--precise_bn_examples``) from the first training examples, in batches of one
    replica's share of the largest batch; the same batches on every worker.

    Raises:
        ValueError: the flag is set for a model without batch norm.
    """
    examples, steps = prepared.config.precise_bn_examples, prepared.plan
    if not examples:
        return None
    if not batch_norm_layers(model):
        raise ValueError(
            f"--precise_bn_examples={examples}, but {prepared.config.model} has no batch "
            "norm to recompute: drop the flag"
        )
    batch = min(examples, steps.per_replica_batch_size)
    ds = prepared.source.make("train", batch, training=False, seed=0, drop_remainder=False)
    inputs = [x.numpy() for x, _ in ds.take(math.ceil(examples / batch))]
    inputs[-1] = inputs[-1][: examples - batch * (len(inputs) - 1)]  # exactly ``examples``
    return lb_callbacks.PreciseBatchNorm(inputs)


def _batch_growth(prepared: Prepared) -> GrowBatchSize | None:
    """The callback that feeds an adaptive batch schedule, or None for other schedules."""
    steps = prepared.plan
    if not isinstance(steps.batch_size_schedule, AdaptiveBatchSize):
        return None
    return GrowBatchSize(
        steps.batch_size_schedule,
        steps.examples_before,
        _small_batch_size(steps),
        last_step=steps.total_steps,
    )


def _batch_schedule_callbacks(prepared: Prepared, writers) -> list[keras.callbacks.Callback]:
    """The batch of every step in TensorBoard and the log; the hyper-parameters other than
    the rate set at each change, when a rule changes one."""
    config, stages = prepared.config, prepared.plan.stages
    transfers = batch_schedule.stage_transfers(config, stages)
    callbacks: list[keras.callbacks.Callback] = [
        lb_callbacks.BatchSizeLogger(
            writers("train") if writers else None,
            stages,
            [f"from the peak's, {transfers[0].description}"]
            + [t.description for t in transfers[1:]],
        )
    ]
    if any(set(t.rules) - {"learning_rate"} for t in transfers):
        callbacks.append(lb_callbacks.HyperparameterTransfer(stages, [t.after for t in transfers]))
    return callbacks


def report(prepared: Prepared, trained: Trained) -> dict[str, Any]:
    """The results of the run; written (with the model) by :class:`Outputs`."""
    config, steps = prepared.config, prepared.plan
    trained_steps = int(trained.model.optimizer.iterations.numpy())
    if not trained.history.epoch:
        logging.info(
            "the run in %s was stopped after the backup of its last loop: writing its "
            "model and results",
            config.model_dir,
        )
    results = {
        "eval_loss": float(trained.eval_metrics["loss"]),
        "eval_accuracy": float(trained.eval_metrics["accuracy"]),
        **task.language_model_results(
            prepared.source.info,
            trained.eval_metrics,
            trained_steps,
            prepared.plan.tokens_per_step,
            trained.training["examples_per_second"],
        ),
        **trained.training,
        "steps": trained_steps,
        "examples": steps.examples_before(trained_steps),
        "passes": steps.examples_before(trained_steps) / steps.num_train,
        "global_batch_size": config.global_batch_size,
        "effective_batch_size": steps.effective_batch_size,
        "num_replicas": steps.num_replicas,
        "base_learning_rate": steps.base_learning_rate,
        "peak_learning_rate": steps.peak_learning_rate,
    }
    if steps.batch_size_schedule is not None:
        results["batch_history"] = [
            stage._asdict() for stage in steps.stages if stage.first_step < trained_steps
        ]
    if isinstance(steps.batch_size_schedule, AdaptiveBatchSize):
        results["batch_decisions"] = [d._asdict() for d in steps.batch_size_schedule.history]
    adascale = find_in_chain(trained.model.optimizer, optimizers.AdaScale)
    if adascale is not None:
        results["tau"] = adascale.tau
    prepared.outputs.save_model(trained.model)
    prepared.outputs.write_results(results)
    return results


def _final_eval(model, last: dict[str, float], eval_data, callbacks: list) -> dict[str, float]:
    """The eval metrics after the last step: the last loop's (in its logs, ``last``),
    or a new evaluation (with ``callbacks``: the precise batch norm's)."""
    if "val_loss" in last:
        return {k[len("val_") :]: v for k, v in last.items() if k.startswith("val_")}
    metrics = model.evaluate(eval_data, verbose=0, return_dict=True, callbacks=callbacks)
    return {**{k: float(v) for k, v in metrics.items()}, "_new": True}


def _monitor_capacity(prepared: Prepared) -> int:
    """Rows of gradient statistics one loop writes, and a spare."""
    every = max(1, prepared.config.monitor_every_steps)
    return -(-prepared.plan.steps_per_loop // every) + 1


def _agreed_backup(strategy: tf.distribute.Strategy, latest: int) -> int:
    """The newest backup every worker has: each keeps its two newest, and a worker
    killed while saving may be one behind the others."""
    return min(across_workers(strategy, latest))


def _hparams(prepared: Prepared) -> dict[str, Any]:
    """Every setting that changes what a run computes, and the resolved peak rate."""
    hparams = prepared.config.hyperparameters()
    hparams["base_learning_rate"] = prepared.plan.base_learning_rate  # 0: resolved
    hparams["peak_learning_rate"] = prepared.plan.peak_learning_rate
    return hparams
