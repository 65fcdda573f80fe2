"""Choosing a ``tf.distribute`` strategy by name, and what each process's role is.

Names: ``default`` (no distribution), ``one_device``, ``mirrored`` (all local GPUs, or
the devices given: names or a replica count, see :func:`check_devices`), ``multi_worker``
(``MultiWorkerMirroredStrategy`` from ``TF_CONFIG``, or from a Slurm allocation through
TF's ``SlurmClusterResolver``), ``tpu`` (through the ``TPUClusterResolver``). This is
the thin layer TF Model Garden's ``distribute_utils.get_distribution_strategy`` also
provides, without Model Garden.

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

import contextlib
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
        devices: for ``one_device`` (one name) and ``mirrored`` (names, or a replica
            count, see :func:`check_devices`); default: all GPUs, else the CPU.
        tpu: TPU name or ``grpc://`` address for ``tpu`` (``"local"`` on a TPU VM).

    Raises:
        ValueError: unknown name, devices that do not exist, no cluster for
            ``multi_worker``, or no reachable TPU.
    """
    if name not in STRATEGIES:
        raise ValueError(f"unknown strategy {name!r}; choose one of: {', '.join(STRATEGIES)}")
    check_devices(name, devices or ())
    if name == "default":
        return tf.distribute.get_strategy()
    keras_compat.apply()
    chosen = _existing_devices(devices) if devices else None
    if name == "one_device":
        device = (
            chosen[0]
            if chosen
            else ("/gpu:0" if tf.config.list_physical_devices("GPU") else "/cpu:0")
        )
        return tf.distribute.OneDeviceStrategy(device)
    if name == "mirrored":
        return tf.distribute.MirroredStrategy(chosen)
    if name == "multi_worker":
        return tf.distribute.MultiWorkerMirroredStrategy(cluster_resolver=_cluster_resolver())
    return _tpu_strategy(tpu)


def check_devices(name: str, devices: Sequence[str]) -> None:
    """Refuses ``devices`` that strategy ``name`` cannot take, by their form alone.

    ``devices`` are device names (``/gpu:0``, ``/cpu:1``: each once; ``one_device``
    takes one), or for ``mirrored`` a replica count (``("2",)``): the first N GPUs, or
    on a machine without GPUs N logical CPU devices, as the tests use. Whether named
    devices exist is checked when the strategy is made (that starts TensorFlow).

    Raises:
        ValueError: naming the entry and the form it should have.
    """
    if not devices:
        return
    if name not in ("mirrored", "one_device"):
        raise ValueError(
            f"devices are for strategy mirrored or one_device, not {name!r}: "
            "add --strategy=mirrored, or leave out --devices"
        )
    if _replica_count(devices) is not None:
        if name != "mirrored":
            raise ValueError(
                f"a replica count (devices={devices[0]}) is for strategy mirrored; "
                "one_device takes a device name, e.g. /gpu:0"
            )
        return
    keys = [_device_key(text) for text in devices]
    if len(set(keys)) < len(keys):
        raise ValueError(f"devices lists a device twice ({','.join(devices)}): name each once")
    if name == "one_device" and len(devices) > 1:
        raise ValueError(f"one_device takes one device, got {','.join(devices)}")


def _replica_count(devices: Sequence[str]) -> int | None:
    """N if ``devices`` is one integer N >= 1, else None (they are names)."""
    if len(devices) != 1 or not devices[0].strip().isdigit():
        return None
    count = int(devices[0])
    if count < 1:
        raise ValueError(f"a replica count must be 1 or more, got devices={devices[0]}")
    return count


def _device_key(text: str) -> tuple[str, int]:
    """``("GPU", 1)`` for ``/gpu:1``, ``/device:GPU:1`` and its long local form."""
    try:
        spec = tf.DeviceSpec.from_string(text.strip())
    except ValueError:
        spec = None
    if (
        spec is None
        or spec.job not in (None, "localhost")
        or spec.replica
        or spec.task
        or spec.device_type is None
        or spec.device_index is None
    ):
        raise ValueError(
            f"devices entry {text!r} is neither a local device name such as /gpu:0 or /cpu:1 "
            "nor a replica count given alone, such as 2"
        )
    return spec.device_type.upper(), spec.device_index


def _short_name(key: tuple[str, int]) -> str:
    return f"/{key[0].lower()}:{key[1]}"


def _existing_devices(devices: Sequence[str]) -> list[str]:
    """The devices to use, all existing: named ones are checked (TensorFlow would
    silently put a missing /cpu:1 on /cpu:0, and two replicas on one device wait for
    each other's all-reduce forever), a count becomes devices."""
    count = _replica_count(devices)
    if count is not None:
        return _replica_devices(count)
    existing = sorted(_device_key(device.name) for device in tf.config.list_logical_devices())
    missing = [text for text in devices if _device_key(text) not in existing]
    if missing:
        raise ValueError(
            f"no device {', '.join(missing)} on this machine (TensorFlow sees "
            f"{', '.join(_short_name(key) for key in existing)}): name existing devices, or "
            "give a replica count, e.g. --devices=2 (the first 2 GPUs, or 2 logical CPU "
            "devices on a machine without GPUs)"
        )
    return list(devices)


def _replica_devices(count: int) -> list[str]:
    """The first ``count`` GPUs, or without GPUs ``count`` logical CPU devices (made
    before TensorFlow's runtime starts, the only time it allows)."""
    gpus = tf.config.list_physical_devices("GPU")
    if gpus:
        if count > len(gpus):
            raise ValueError(
                f"devices={count} asks for {count} replicas, but this machine has "
                f"{len(gpus)} GPUs: give at most {len(gpus)}"
            )
        return [f"/gpu:{index}" for index in range(count)]
    cpu = tf.config.list_physical_devices("CPU")[0]
    with contextlib.suppress(RuntimeError):  # raised once the runtime has started:
        # then the logical CPUs it has must do
        tf.config.set_logical_device_configuration(
            cpu, [tf.config.LogicalDeviceConfiguration()] * count
        )
    cpus = [device.name for device in tf.config.list_logical_devices("CPU")]
    if len(cpus) < count:
        raise ValueError(
            f"devices={count} needs {count} logical CPU devices, but TensorFlow's runtime "
            f"started with {len(cpus)} before they could be made: make the strategy before "
            "any other TensorFlow work in the process"
        )
    return cpus[:count]


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
