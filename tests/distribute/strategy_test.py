"""Strategies by name, batch checks and worker roles."""

import json

import pytest
import tensorflow as tf

from lbkeras.distribute import (
    STRATEGIES,
    WorkerRole,
    check_devices,
    check_global_batch,
    keras_compat,
    make_strategy,
    worker_role,
)


def test_mirrored_over_the_two_logical_cpus():
    devices = [d.name for d in tf.config.list_logical_devices("CPU")]
    strategy = make_strategy("mirrored", devices=devices)
    assert isinstance(strategy, tf.distribute.MirroredStrategy)
    assert strategy.num_replicas_in_sync == 2
    assert worker_role(strategy) == WorkerRole(None, 0, 1)


def test_default_and_one_device():
    assert make_strategy("default") is tf.distribute.get_strategy()
    strategy = make_strategy("one_device", devices=["/cpu:0"])
    assert isinstance(strategy, tf.distribute.OneDeviceStrategy)
    assert strategy.num_replicas_in_sync == 1


@pytest.mark.parametrize("devices", [["/cpu:0", "/cpu:2"], ["/gpu:98", "/gpu:99"]])
def test_devices_that_do_not_exist_are_refused_naming_those_that_do(devices):
    # TensorFlow itself accepts them: soft placement puts a missing /cpu:2 on /cpu:0, and
    # the two replicas on one device then wait for each other's all-reduce forever.
    missing = ", ".join(d for d in devices if d != "/cpu:0")
    with pytest.raises(ValueError, match=f"no device {missing} on .* sees /cpu:0, /cpu:1\\)"):
        make_strategy("mirrored", devices=devices)
    with pytest.raises(ValueError, match=f"no device {devices[-1]} on"):
        make_strategy("one_device", devices=devices[-1:])


def test_a_replica_count_is_that_many_devices():
    strategy = make_strategy("mirrored", devices=["2"])  # tests/conftest.py's 2 logical CPUs
    assert strategy.num_replicas_in_sync == 2
    assert make_strategy("mirrored", devices=["1"]).num_replicas_in_sync == 1


def test_a_count_the_started_runtime_cannot_give_says_why():
    with pytest.raises(ValueError, match="needs 3 logical CPU devices, but .* started with 2"):
        make_strategy("mirrored", devices=["3"])


@pytest.mark.parametrize(
    "name, devices, message",
    [
        ("mirrored", ["foo"], "'foo' is neither a local device name such as /gpu:0"),
        ("mirrored", ["2", "3"], "'2' is neither .* nor a replica count given alone"),
        ("mirrored", ["/job:worker/task:1/cpu:0"], "neither a local device name"),
        ("mirrored", ["/gpu"], "neither a local device name"),
        ("mirrored", ["0"], "a replica count must be 1 or more"),
        ("mirrored", ["/cpu:0", "/device:CPU:0"], "lists a device twice"),
        ("one_device", ["2"], "is for strategy mirrored; one_device takes a device name"),
        ("one_device", ["/cpu:0", "/cpu:1"], "one_device takes one device"),
        ("default", ["2"], "devices are for strategy mirrored or one_device, not 'default'"),
    ],
)
def test_devices_of_the_wrong_form_are_refused_before_tensorflow_starts(name, devices, message):
    with pytest.raises(ValueError, match=message):
        check_devices(name, devices)
    with pytest.raises(ValueError, match=message):
        make_strategy(name, devices=devices)


def test_unknown_strategy_lists_choices():
    with pytest.raises(ValueError, match="choose one of: " + ", ".join(STRATEGIES)):
        make_strategy("horovod")


def test_multi_worker_without_a_cluster_says_what_to_set(monkeypatch):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    monkeypatch.delenv("SLURM_JOB_ID", raising=False)
    with pytest.raises(ValueError, match="TF_CONFIG"):
        make_strategy("multi_worker")
    monkeypatch.setenv("TF_CONFIG", "{not json")
    with pytest.raises(ValueError, match="not valid JSON"):
        make_strategy("multi_worker")


@pytest.mark.parametrize("tpu", [None, "local", "grpc://127.0.0.1:1"])
def test_tpu_unreachable_is_one_clear_error(tpu):
    with pytest.raises(ValueError, match="no TPU reachable"):
        make_strategy("tpu", tpu=tpu)


@pytest.mark.parametrize("batch, replicas, per_replica", [(2048, 1, 2048), (2048, 8, 256)])
def test_global_batch_splits(batch, replicas, per_replica):
    assert check_global_batch(batch, replicas) == per_replica


def test_global_batch_not_divisible_names_the_numbers():
    with pytest.raises(ValueError, match="2050 is not divisible by the 8 replicas"):
        check_global_batch(2050, 8)


def test_chief_rules():
    assert WorkerRole(None, 0, 1).is_chief
    assert WorkerRole("worker", 0, 2).is_chief
    assert not WorkerRole("worker", 1, 2).is_chief
    assert not WorkerRole("worker", 0, 3, has_chief=True).is_chief
    assert WorkerRole("chief", 0, 3, has_chief=True).is_chief


def test_worker_role_from_tf_config(monkeypatch):
    cluster = {"worker": ["127.0.0.1:1111", "127.0.0.1:2222"]}
    monkeypatch.setenv(
        "TF_CONFIG", json.dumps({"cluster": cluster, "task": {"type": "worker", "index": 1}})
    )

    class Holder:  # worker_role only reads strategy.cluster_resolver
        cluster_resolver = tf.distribute.cluster_resolver.TFConfigClusterResolver()

    assert worker_role(Holder()) == WorkerRole("worker", 1, 2, False)


def test_compat_patch_is_gated_on_the_keras_version():
    assert keras_compat.needs_multi_worker_fix((3, 15))
    assert keras_compat.needs_multi_worker_fix((3, 10))
    assert not keras_compat.needs_multi_worker_fix((3, 16))
    assert not keras_compat.needs_multi_worker_fix((4, 0))
