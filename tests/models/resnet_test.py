"""Tests for lbkeras.models.resnet: every registered ResNet, zero-init, batch-norm options."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from lbkeras import models
from lbkeras.models.resnet import resnet
from tests.models.common import assert_logits_head, assert_save_load_round_trip, random_inputs

BLOCKS = {18: (2, 2, 2, 2), 34: (3, 4, 6, 3), 50: (3, 4, 6, 3), 101: (3, 4, 23, 3)}
RESNETS = [(depth, version) for depth in BLOCKS for version in (1, 2)]
IDS = [f"resnet{depth}{'_v2' if version == 2 else ''}" for depth, version in RESNETS]

# Published parameter counts at 224x224x3 and 1000 classes. v1: torchvision's model
# documentation ("num_params", trainable parameters only), e.g.
# https://pytorch.org/vision/stable/models/generated/torchvision.models.resnet50.html.
# v2: count_params() of keras.applications.ResNet50V2 / ResNet101V2(weights=None), the same
# architecture; keras-cv's preset metadata for the 18/34 backbones plus the 512*1000+1000 head.
PUBLISHED_V1_TRAINABLE = {18: 11_689_512, 34: 21_797_672, 50: 25_557_032, 101: 44_549_160}
PUBLISHED_V2_TOTAL = {
    18: 11_183_488 + 513_000,
    34: 21_299_072 + 513_000,
    50: 25_613_800,
    101: 44_675_560,
}


def _batch_norms(model):
    return [layer for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)]


@pytest.fixture(scope="module")
def seeded():
    """ResNet-18s built after ``set_random_seed(0)``, by options; do not train them."""
    cache = {}

    def build(**options):
        key = tuple(sorted(options.items()))
        if key not in cache:
            keras.utils.set_random_seed(0)
            cache[key] = models.get("resnet18", input_shape=(16, 16, 3), num_classes=10, **options)
        return cache[key]

    yield build
    cache.clear()


def _reference_counts(depth, num_classes=1000):
    """(trainable parameters, batch-norm channels) of ResNet-``depth`` v1, by formula.

    The architecture of He et al. 2016 (Table 1) as torchvision builds it: convolutions
    without biases, each followed by batch norm (gamma and beta trainable), a 1x1
    projection shortcut where a block changes shape, and a fully connected head.
    """
    bottleneck = depth >= 50
    expansion = 4 if bottleneck else 1
    channels = 64
    conv_shapes = [(7, 3, 64)]  # (kernel size, in channels, out channels)
    for stage, (width, blocks) in enumerate(zip((64, 128, 256, 512), BLOCKS[depth])):
        out = width * expansion
        for block in range(blocks):
            if bottleneck:
                conv_shapes += [(1, channels, width), (3, width, width), (1, width, out)]
            else:
                conv_shapes += [(3, channels, width), (3, width, width)]
            if block == 0 and (stage > 0 or channels != out):
                conv_shapes.append((1, channels, out))
            channels = out
    bn_channels = sum(c_out for _, _, c_out in conv_shapes)
    convs = sum(k * k * c_in * c_out for k, c_in, c_out in conv_shapes)
    return convs + 2 * bn_channels + channels * num_classes + num_classes, bn_channels


def _assert_published_parameter_counts(model, depth, version):
    if version == 2:
        assert model.count_params() == PUBLISHED_V2_TOTAL[depth]
        return
    reference, bn_channels = _reference_counts(depth)
    assert reference == PUBLISHED_V1_TRAINABLE[depth]
    assert sum(int(np.prod(w.shape)) for w in model.trainable_weights) == reference
    # Keras also counts batch norm's moving mean and variance (Torch's buffers).
    assert model.count_params() == reference + 2 * bn_channels


def _assert_stacks_run_at_the_v1_resolutions(model):
    # v1 strides a stack's first block, v2 its last: with strides (2, 2, 2, 1), v2's
    # first blocks output what v1's do (as in keras.applications.ResNet50V2).
    for stack, size in enumerate((56, 28, 14, 7)):
        shape = model.get_layer(f"v2_stack_{stack}_block1_out").output.shape
        assert shape[1:3] == (size, size), (stack, shape)
    assert model.get_layer("avg_pool").input.shape[1:3] == (7, 7)


def _assert_blocks_start_as_their_shortcuts(model, depth, version):
    # The residual branch ends in the last batch norm (v1) or convolution (v2) of a
    # block: "_2_" in basic blocks (ResNet-18/34), "_3_" in bottlenecks (50/101).
    last = f"_{2 if depth < 50 else 3}_{'bn' if version == 1 else 'conv'}"
    prefixes = [
        f"v2_stack_{stack}_block{block}"
        for stack, blocks in enumerate(BLOCKS[depth])
        for block in range(1, blocks + 1)
    ]
    ends = {prefix + last for prefix in prefixes}
    for bn in _batch_norms(model):
        gamma = bn.gamma.numpy()
        np.testing.assert_array_equal(gamma, 0.0 if bn.name in ends else 1.0, err_msg=bn.name)
    for conv in model.layers:
        if isinstance(conv, keras.layers.Conv2D):
            assert (conv.name in ends) == (not np.any(conv.kernel.numpy())), conv.name

    # A forward pass gives logits, every residual branch outputs 0, every Add its shortcut.
    probes = []
    for prefix in prefixes:
        add = model.get_layer(f"{prefix}_add" if version == 1 else f"{prefix}_out")
        branch = model.get_layer(prefix + last).output
        (shortcut,) = [t for t in add.input if t is not branch]
        probes += [branch, shortcut, add.output]
    *values, logits = keras.Model(model.input, [*probes, model.output])(
        random_inputs(model, batch_size=1), training=False
    )
    assert tuple(logits.shape) == (1, 1000)
    for i, prefix in enumerate(prefixes):
        branch, shortcut, added = (np.asarray(v) for v in values[3 * i : 3 * i + 3])
        assert np.all(branch == 0), prefix
        np.testing.assert_array_equal(added, shortcut, err_msg=prefix)
        assert np.any(shortcut), prefix


@pytest.mark.parametrize("depth, version", RESNETS, ids=IDS)
def test_every_resnet(depth, version):
    # One build per architecture (the cost of these tests) at the published counts'
    # 224x224x3 and 1000 classes; a forward pass at 224 costs little more than at 32.
    name = IDS[RESNETS.index((depth, version))]
    model = models.get(
        name, input_shape=(224, 224, 3), num_classes=1000, zero_init_residual_gamma=True
    )
    assert_logits_head(model, 1000)
    assert model.name == name
    _assert_published_parameter_counts(model, depth, version)
    _assert_stacks_run_at_the_v1_resolutions(model)
    _assert_blocks_start_as_their_shortcuts(model, depth, version)


def test_batch_norm_options_keep_the_initial_weights(seeded):
    plain = seeded()
    synced = seeded(synchronized_batch_norm=True, bn_momentum=0.8)
    assert len(_batch_norms(synced)) == 1 + 2 * 8 + 3  # stem, 2 per block, 3 projections
    for bn in _batch_norms(plain):
        assert bn.get_config()["momentum"] == 0.9 and not bn.get_config()["synchronized"]
    for bn in _batch_norms(synced):
        assert bn.get_config()["momentum"] == 0.8 and bn.get_config()["synchronized"]
    assert [w.path for w in plain.weights] == [w.path for w in synced.weights]
    for a, b in zip(plain.weights, synced.weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=a.path)


def test_bn_momentum_sets_the_moving_average():
    model = models.get("resnet18", input_shape=(8, 8, 3), num_classes=2, bn_momentum=0.75)
    stem = keras.Model(model.input, model.get_layer("conv1_conv").output)
    x = random_inputs(model, batch_size=4)
    batch_mean = np.asarray(stem(x)).mean(axis=(0, 1, 2))
    model(x, training=True)
    moving_mean = model.get_layer("conv1_bn").moving_mean.numpy()
    np.testing.assert_allclose(moving_mean, 0.25 * batch_mean, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("synchronized", [True, False])
def test_synchronized_batch_norm_normalises_over_the_global_batch(synchronized, mirrored_strategy):
    strategy = mirrored_strategy  # tests/conftest.py: two logical CPUs
    with strategy.scope():
        model = models.get(
            "resnet18",
            input_shape=(8, 8, 3),
            num_classes=2,
            synchronized_batch_norm=synchronized,
            zero_init_residual_gamma=True,  # assigns mirrored variables
        )
    assert not np.any(model.get_layer("v2_stack_3_block2_2_bn").gamma.numpy())
    stem = keras.Model(
        model.input, [model.get_layer("conv1_conv").output, model.get_layer("conv1_bn").output]
    )
    x = random_inputs(model, batch_size=4)
    x[2:] += 3.0  # the two replicas' batches have different statistics
    per_replica = strategy.experimental_distribute_values_from_function(
        lambda context: tf.constant(x[2 * context.replica_id_in_sync_group :][:2])
    )
    run = tf.function(lambda batch: strategy.run(lambda t: stem(t, training=True), args=(batch,)))
    convs, normalised = (
        np.concatenate([np.asarray(v) for v in strategy.experimental_local_results(o)])
        for o in run(per_replica)
    )
    groups = [convs] if synchronized else [convs[:2], convs[2:]]
    epsilon = model.get_layer("conv1_bn").epsilon
    expected = np.concatenate(
        [(g - g.mean(axis=(0, 1, 2))) / np.sqrt(g.var(axis=(0, 1, 2)) + epsilon) for g in groups]
    )
    np.testing.assert_allclose(normalised, expected, rtol=1e-3, atol=1e-3)


def test_save_load_round_trip_keeps_the_options(seeded, tmp_path):
    model = seeded(synchronized_batch_norm=True, bn_momentum=0.8)
    loaded = assert_save_load_round_trip(model, str(tmp_path / "resnet.keras"))
    assert loaded.name == "resnet18"
    for bn in _batch_norms(loaded):
        assert bn.momentum == 0.8 and bn.synchronized


@pytest.mark.parametrize(
    "args, kwargs, message",
    [
        ((20,), {}, "depth must be one of"),
        ((50, 3), {}, "version one of"),
        ((18,), {"input_shape": (32, 32)}, "rank 3"),
        ((18,), {"num_classes": 0}, "num_classes"),
        ((18,), {"bn_momentum": 1.0}, "bn_momentum"),
    ],
)
def test_bad_arguments(args, kwargs, message):
    kwargs = {"input_shape": (32, 32, 3), "num_classes": 10, **kwargs}
    with pytest.raises(ValueError, match=message):
        resnet(*args, **kwargs)


@pytest.mark.parametrize("flag", ["zero_init_residual_gamma", "synchronized_batch_norm"])
def test_flags_must_be_bools(flag):
    with pytest.raises(TypeError, match=f"{flag} must be True or False"):
        resnet(18, input_shape=(32, 32, 3), num_classes=10, **{flag: "false"})
