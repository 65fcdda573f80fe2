"""Choosing a ``tf.distribute`` strategy by name, and what each process's role is.

Names: ``default`` (no distribution), ``one_device``, ``mirrored`` (all local GPUs, or
the devices given), ``multi_worker`` (``MultiWorkerMirroredStrategy`` from ``TF_CONFIG``,
or from a Slurm allocation through TF's ``SlurmClusterResolver``), ``tpu`` (through the
``TPUClusterResolver``). This is the thin layer TF Model Garden's
``distribute_utils.get_distribution_strategy`` also provides, without Model Garden.

Example:
    >>> strategy = make_strategy("default")  # "mirrored" on a machine with several GPUs
    >>> check_global_batch(2048, strategy.num_replicas_in_sync)
    2048
    >>> check_global_batch(2048, 8)  # the batch of each of 8 replicas
    256
    >>> check_global_batch(2050, 8)
    Traceback (most recent call last):
    ...
    ValueError: global batch size 2050 is not divisible by the 8 replicas of the strategy; ...
"""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Sequence
from typing import NamedTuple

import tensorflow as tf

from lbkeras.distribute import keras_compat

STRATEGIES = ("default", "one_device", "mirrored", "multi_worker", "tpu")


def make_strategy(
    name: str = "default",
    *,
    devices: Sequence[str] | None = None,
    tpu: str | None = None,
) -> tf.distribute.Strategy:
    """Builds the strategy ``name``.

    Args:
        name: one of :data:`STRATEGIES`.
        devices: for ``one_device`` (the first) and ``mirrored``; default: all GPUs, else CPU.
        tpu: TPU name or ``grpc://`` address for ``tpu`` (``"local"`` on a TPU VM).

    Raises:
        ValueError: unknown name, no cluster for ``multi_worker``, or no reachable TPU.
    """
    if name not in STRATEGIES:
        raise ValueError(f"unknown strategy {name!r}; choose one of: {', '.join(STRATEGIES)}")
    if name == "default":
        return tf.distribute.get_strategy()
    keras_compat.apply()
    if name == "one_device":
        device = (
            devices[0]
            if devices
            else ("/gpu:0" if tf.config.list_physical_devices("GPU") else "/cpu:0")
        )
        return tf.distribute.OneDeviceStrategy(device)
    if name == "mirrored":
        return tf.distribute.MirroredStrategy(list(devices) if devices else None)
    if name == "multi_worker":
        return tf.distribute.MultiWorkerMirroredStrategy(cluster_resolver=_cluster_resolver())
    return _tpu_strategy(tpu)


def _cluster_resolver() -> tf.distribute.cluster_resolver.ClusterResolver:
    if os.environ.get("TF_CONFIG"):
        try:
            json.loads(os.environ["TF_CONFIG"])
        except json.JSONDecodeError as error:
            raise ValueError(f"TF_CONFIG is not valid JSON: {error}") from None
        return tf.distribute.cluster_resolver.TFConfigClusterResolver()
    if os.environ.get("SLURM_JOB_ID"):
        return tf.distribute.cluster_resolver.SlurmClusterResolver()
    raise ValueError(
        "strategy 'multi_worker' needs a cluster: set TF_CONFIG (see "
        "https://www.tensorflow.org/guide/distributed_training) or run under Slurm"
    )


def _tpu_strategy(tpu: str | None) -> tf.distribute.Strategy:
    if tpu and tpu.startswith("grpc://"):
        _check_reachable(tpu)
    try:
        resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu=tpu or "")
        tf.config.experimental_connect_to_cluster(resolver)
        tf.tpu.experimental.initialize_tpu_system(resolver)
    except (ValueError, RuntimeError, tf.errors.OpError) as error:
        raise ValueError(
            f"strategy 'tpu': no TPU reachable (tpu={tpu!r}): {str(error).splitlines()[0]}; "
            "pass --tpu=NAME, or --tpu=local on a TPU VM"
        ) from None
    return tf.distribute.TPUStrategy(resolver)


def _check_reachable(address: str, timeout: float = 5.0) -> None:
    """Fails fast on a TPU address nobody listens on (TF would wait for minutes)."""
    host, _, port = address[len("grpc://") :].rpartition(":")
    try:
        with socket.create_connection((host, int(port)), timeout=timeout):
            pass
    except (OSError, ValueError) as error:
        raise ValueError(
            f"strategy 'tpu': no TPU reachable at {address} ({error}); check --tpu"
        ) from None


def check_global_batch(global_batch_size: int, replicas: int) -> int:
    """Returns the per-replica batch; raises if the global batch does not split evenly."""
    if global_batch_size <= 0 or global_batch_size % replicas:
        raise ValueError(
            f"global batch size {global_batch_size} is not divisible by the {replicas} replicas "
            f"of the strategy; use a multiple of {replicas}"
        )
    return global_batch_size // replicas


class WorkerRole(NamedTuple):
    """Where this process stands in the cluster."""

    task_type: str | None
    task_id: int
    num_workers: int
    has_chief: bool = False

    @property
    def is_chief(self) -> bool:
        """The one process that writes logs, checkpoints and results.

        The ``chief`` task if the cluster has one, else worker 0 (TF's convention).
        """
        if self.task_type is None or self.task_type == "chief":
            return True
        return self.task_type == "worker" and self.task_id == 0 and not self.has_chief


def worker_role(strategy: tf.distribute.Strategy) -> WorkerRole:
    """This process's role: ``(None, 0, 1)`` outside multi-worker training."""
    resolver = getattr(strategy, "cluster_resolver", None)
    spec = resolver.cluster_spec().as_dict() if resolver is not None else {}
    if not spec:
        return WorkerRole(None, 0, 1)
    num_workers = sum(len(spec.get(job, [])) for job in ("chief", "worker"))
    return WorkerRole(resolver.task_type, int(resolver.task_id or 0), num_workers, "chief" in spec)


def across_workers(strategy: tf.distribute.Strategy, value: int) -> list[int]:
    """``value`` as every worker of the cluster has it (one entry per replica).

    For decisions all workers must take alike (which backup to resume, whether to back
    up now): each worker contributes its own ``value`` through ``strategy.gather``, one
    small collective. With one worker, ``[value]`` without any collective.
    """
    if worker_role(strategy).num_workers <= 1:
        return [value]
    values = strategy.experimental_distribute_values_from_function(
        lambda _: tf.constant([value], tf.int64)
    )
    return [int(v) for v in strategy.gather(values, axis=0).numpy()]
