"""ResNet-18/34/50/101, v1 and v2, on keras-cv's backbones, returning logits.

keras-cv 0.9.0's ``ResNetBackbone`` (v1) and ``ResNetV2Backbone`` (v2) build the body
from explicit architecture arguments, so nothing is downloaded. This module adds global
average pooling and a ``Dense(num_classes)`` head, and returns a plain functional model
of core Keras layers, so it saves and loads without keras-cv. It also adds what the
backbones cannot do:

* ``bn_momentum``: keras-cv creates its BatchNormalization layers with Keras's default
  momentum 0.99 and takes no argument for it. The default here, 0.9, is Caffe2's (which
  Goyal et al. used) and PyTorch's (its ``momentum=0.1`` weights the new batch); few,
  large steps need moving statistics that follow the weights quickly.
* ``synchronized_batch_norm``: batch statistics over all replicas (Keras's
  ``BatchNormalization(synchronized=True)``, TensorFlow only), so the per-replica batch
  can shrink without changing what batch norm computes.
* ``zero_init_residual_gamma``: Goyal et al.'s zero-init of the last batch norm's gamma
  in each residual branch, so every block starts as its shortcut.

Both batch-norm settings are set on keras-cv's layers before their first call, which
Keras's BatchNormalization treats as if they had been constructor arguments.

Architecture notes:

* v1 is keras-cv's (and ``keras.applications``') ResNet v1: a bottleneck block strides
  its first 1x1 convolution. Goyal et al. and torchvision stride the 3x3 convolution
  instead ("ResNet v1.5"): the same parameters, more FLOPs, slightly higher accuracy.
* v1 convolutions have no biases, so trainable parameters equal the published counts:
  ResNet-50 with 1000 classes has 25,557,032 and ResNet-18 11,689,512 (torchvision).
  ``count_params()`` also counts batch norm's moving mean and variance (non-trainable;
  Torch keeps them as buffers): 25,610,152 and 11,699,112. ``keras.applications.ResNet50``
  has 25,636,712 because its convolutions have biases.
* v2 (pre-activation) strides the *last* block of a stack. Strides ``(2, 2, 2, 1)`` give
  every stack the resolutions of ``keras.applications.ResNet50V2``; keras-cv's presets use
  ``(1, 2, 2, 2)``, which runs the last three stacks at twice the resolution. Its stem,
  projection and last bottleneck convolutions have biases.

Registered names: ``resnet18``, ``resnet34``, ``resnet50``, ``resnet101`` (v1) and the
same with ``_v2``. Weight decay is the optimizer's business, not the model's.

References:
    He, Zhang, Ren, Sun, "Deep Residual Learning for Image Recognition", CVPR 2016.
    He, Zhang, Ren, Sun, "Identity Mappings in Deep Residual Networks", ECCV 2016.
    Goyal et al., "Accurate, Large Minibatch SGD: Training ImageNet in 1 Hour", 2017.

Example:
    >>> model = resnet(50, input_shape=(224, 224, 3), num_classes=1000,
    ...                zero_init_residual_gamma=True)
    >>> sum(int(w.numpy().size) for w in model.trainable_weights)
    25557032
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import keras

from lbkeras.models.common import check_arguments, check_bool, check_momentum, logits

# depth -> (keras-cv block type, blocks per stack)
_ARCHITECTURES = {
    18: ("basic_block", (2, 2, 2, 2)),
    34: ("basic_block", (3, 4, 6, 3)),
    50: ("block", (3, 4, 6, 3)),
    101: ("block", (3, 4, 23, 3)),
}
DEPTHS = tuple(_ARCHITECTURES)
VERSIONS = (1, 2)
_FILTERS = (64, 128, 256, 512)
_STRIDES = {1: (1, 2, 2, 2), 2: (2, 2, 2, 1)}  # v1 strides a stack's first block, v2 its last


def resnet_name(depth: int, version: int) -> str:
    """The registered name: ``"resnet50"`` for v1, ``"resnet50_v2"`` for v2."""
    return f"resnet{depth}" + ("_v2" if version == 2 else "")


def resnet(
    depth: int,
    version: int = 1,
    *,
    input_shape: Sequence[int],
    num_classes: int,
    zero_init_residual_gamma: bool = False,
    synchronized_batch_norm: bool = False,
    bn_momentum: float = 0.9,
) -> keras.Model:
    """A ResNet classifier: keras-cv backbone, global average pooling, ``Dense`` logits.

    Args:
        depth: 18, 34 (basic blocks), 50 or 101 (bottleneck blocks).
        version: 1 (post-activation) or 2 (pre-activation).
        input_shape: ``(height, width, channels)``; inputs are used as given (no rescaling).
        num_classes: number of logits.
        zero_init_residual_gamma: start every residual block as its shortcut. v1: the
            gamma of the last batch norm of each residual branch is 0 (Goyal et al.).
            v2 has no batch norm at the end of the branch (pre-activation moves them in
            front of the convolutions), and a zero gamma earlier in the branch would feed
            a ReLU exactly 0, whose gradient is 0, so the branch would never train. The
            counterpart used instead, as timm's ``zero_init_last`` for pre-activation
            ResNets, is a zero kernel (and bias) in the branch's last convolution, which
            still receives gradients.
        synchronized_batch_norm: every BatchNormalization computes its statistics over
            all replicas (TensorFlow backend only).
        bn_momentum: momentum of every BatchNormalization, in ``[0, 1)``.

    Returns:
        A functional ``keras.Model`` named after the architecture (``"resnet50_v2"``).

    Raises:
        ValueError: an unknown depth or version, a bad shape or momentum, or
            ``synchronized_batch_norm`` off TensorFlow.
        TypeError: a flag that is not a bool.
    """
    if depth not in _ARCHITECTURES or version not in VERSIONS:
        raise ValueError(
            f"resnet: depth must be one of {DEPTHS} and version one of {VERSIONS}, "
            f"got depth={depth!r}, version={version!r}"
        )
    name = resnet_name(depth, version)
    input_shape, num_classes = check_arguments(name, input_shape, num_classes, (3,))
    bn_momentum = check_momentum(bn_momentum)
    check_bool("zero_init_residual_gamma", zero_init_residual_gamma)
    check_bool("synchronized_batch_norm", synchronized_batch_norm)
    if synchronized_batch_norm and keras.backend.backend() != "tensorflow":
        raise ValueError(f"{name}: synchronized_batch_norm needs the TensorFlow backend")
    # Imported here: keras-cv imports TensorFlow, which the rest of lbkeras does not need.
    import keras_cv

    backbone_class = keras_cv.models.ResNetBackbone
    if version == 2:
        backbone_class = keras_cv.models.ResNetV2Backbone
    block_type, blocks = _ARCHITECTURES[depth]
    backbone = backbone_class(
        stackwise_filters=list(_FILTERS),
        stackwise_blocks=list(blocks),
        stackwise_strides=list(_STRIDES[version]),
        include_rescaling=False,
        input_tensor=keras.Input(input_shape, name="images"),
        block_type=block_type,
    )
    features = keras.layers.GlobalAveragePooling2D(name="avg_pool")(backbone.output)
    model = keras.Model(backbone.input, logits(features, num_classes), name=name)
    _configure_batch_norm(model, momentum=bn_momentum, synchronized=synchronized_batch_norm)
    if zero_init_residual_gamma:
        ends = _residual_branch_ends(model)
        last_type = keras.layers.BatchNormalization if version == 1 else keras.layers.Conv2D
        if len(ends) != sum(blocks) or not all(isinstance(end, last_type) for end in ends):
            raise RuntimeError(
                f"{name}: expected {sum(blocks)} residual branches ending in "
                f"{last_type.__name__}, found {[end.name for end in ends]}: "
                f"keras-cv {keras_cv.__version__} builds its blocks unlike 0.9.0"
            )
        for end in ends:
            _zero_weights(end)
    return model


def _residual_branch_ends(model: keras.Model) -> list[keras.layers.Layer]:
    """The last layer of each residual branch of a keras-cv ResNet, in model order.

    Every residual block ends in an ``Add`` of its shortcut and its residual branch.
    keras-cv (like ``keras.applications``) names a block's layers ``<block>_<k>_<kind>``
    and its ``Add`` ``<block>_add`` (v1) or ``<block>_out`` (v2), with ``k = 0`` for the
    shortcut's own layers. The branch's end is the ``Add`` input made by a layer of the
    same block with ``k >= 1``: a BatchNormalization in v1, a Conv2D in v2.

    Raises:
        RuntimeError: an ``Add`` without exactly one such input.
    """
    producers = {id(layer.output): layer for layer in model.layers}
    ends = []
    for layer in model.layers:
        if not isinstance(layer, keras.layers.Add):
            continue
        block = layer.name.rsplit("_", 1)[0]
        branch = re.compile(re.escape(block) + r"_[1-9]\d*_(bn|conv)")
        inputs = [producers[id(tensor)] for tensor in layer.input]
        matches = [producer for producer in inputs if branch.fullmatch(producer.name)]
        if len(matches) != 1:
            names = [producer.name for producer in inputs]
            raise RuntimeError(f"cannot tell the residual branch of {layer.name!r} in {names}")
        ends.append(matches[0])
    return ends


def _zero_weights(layer: keras.layers.Layer) -> None:
    """Zeroes a batch norm's gamma, or a convolution's kernel and bias."""
    if isinstance(layer, keras.layers.BatchNormalization):
        variables = [layer.gamma]
    else:
        variables = [layer.kernel] + ([layer.bias] if layer.use_bias else [])
    for variable in variables:
        variable.assign(keras.ops.zeros(variable.shape, variable.dtype))


def _configure_batch_norm(model: keras.Model, momentum: float, synchronized: bool) -> None:
    """Sets ``momentum`` and ``synchronized`` on every BatchNormalization of ``model``.

    keras-cv's backbones take no batch-norm arguments. Keras's BatchNormalization
    reads these two attributes only when it is called and in ``get_config`` (its
    constructor only stores them, after refusing ``synchronized`` off TensorFlow, which
    :func:`resnet` checks), so
    setting them on the new, never-trained layers equals building them so; the tests
    check both the saved configuration and the synchronised statistics under
    ``MirroredStrategy``. ``keras.models.clone_model`` with new layers would do the
    same at twice the build time (all weights created again, then overwritten).
    """
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.momentum = momentum
            layer.synchronized = synchronized
