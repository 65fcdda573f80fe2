"""Models for the trainer's ``--model`` flag, built by name: classifiers and a language model.

Every model is a plain functional ``keras.Model`` of Keras layers (the transformer's
own are in ``lbkeras.layers``) that outputs logits (no softmax: use
``from_logits=True``), has its weights when returned, and survives ``model.save`` +
``keras.saving.load_model``. The logits layer computes in
float32, also under a ``mixed_float16`` policy. Build it inside a strategy's scope to
place its variables there.

Registered names (:func:`get`, :func:`names`) and their options:

* ``"mnist1d_cnn"``: :func:`mnist1d_cnn` (``filters``, ``strides``, ``bn_momentum``).
* ``"mlp"``: :func:`mlp` (``hidden_units``, ``activation``, ``batch_norm``, ``dropout``,
  ``bn_momentum``).
* ``"resnet18"``, ``"resnet34"``, ``"resnet50"``, ``"resnet101"`` and the same with
  ``"_v2"``: :func:`resnet` (``zero_init_residual_gamma``, ``synchronized_batch_norm``,
  ``bn_momentum``).
* ``"transformer_lm"``: :func:`transformer_lm` (``num_layers``, ``width``, ``num_heads``,
  ``mlp_ratio``, ``positions``, ``tie_embeddings``): next-token logits at every position,
  ``(batch, context, num_classes)``, for a dataset whose task is "next_byte".

Also here: :class:`SAMModel` and :func:`with_sam`, a ``keras.Model`` whose ``fit`` takes
sharpness-aware steps (any model, registered or not).

Example:
    >>> model = get("resnet50", input_shape=(224, 224, 3), num_classes=1000,
    ...             zero_init_residual_gamma=True)
    >>> model.compile(optimizer="sgd",
    ...               loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Sequence
from typing import Any

import keras

from lbkeras.data.base import CLASSIFICATION, NEXT_BYTE
from lbkeras.models.mlp import mlp
from lbkeras.models.mnist1d_cnn import mnist1d_cnn
from lbkeras.models.resnet import DEPTHS, VERSIONS, resnet, resnet_name
from lbkeras.models.sam import SAMModel, with_sam
from lbkeras.models.transformer_lm import transformer_lm
from lbkeras.registry import Registry

__all__ = [
    "MODELS",
    "SAMModel",
    "get",
    "mlp",
    "mnist1d_cnn",
    "names",
    "options",
    "resnet",
    "task",
    "transformer_lm",
    "with_sam",
]

MODELS = Registry("model")
MODELS.add("mnist1d_cnn", mnist1d_cnn)
MODELS.add("mlp", mlp)
MODELS.add("transformer_lm", transformer_lm, task=NEXT_BYTE)
for _version in VERSIONS:
    for _depth in DEPTHS:
        MODELS.add(resnet_name(_depth, _version), functools.partial(resnet, _depth, _version))


def task(name: str) -> str:
    """What the model registered under ``name`` predicts: a ``lbkeras.data`` task
    ("classification", or "next_byte" for the language model; its registry tag)."""
    return MODELS.tags(name).get("task", CLASSIFICATION)


def options(name: str) -> dict[str, Any]:
    """The options of the model registered under ``name``, with their defaults."""
    parameters = inspect.signature(MODELS.factory(name)).parameters.values()
    return {p.name: p.default for p in parameters if p.name not in ("input_shape", "num_classes")}


def get(
    name: str, *, input_shape: Sequence[int], num_classes: int, **model_options: Any
) -> keras.Model:
    """Builds the model registered under ``name``.

    Args:
        name: a registered name (:func:`names`), case-insensitive.
        input_shape: the shape of one example, without the batch axis.
        num_classes: the number of logits.
        **model_options: the model's options (:func:`options`).

    Returns:
        A built functional ``keras.Model`` that outputs logits ``(batch, num_classes)``
        (a language model: ``(batch, context, num_classes)``).

    Raises:
        ValueError: an unknown name (the message lists the choices), an option the
            model does not have (the message lists its options), or a bad value.
    """
    accepted = options(name)
    unknown = sorted(set(model_options) - set(accepted))
    if unknown:
        raise ValueError(
            f"model {name!r} has no option {', '.join(unknown)}; "
            f"its options are: {', '.join(accepted) or 'none'}"
        )
    return MODELS.get(name, input_shape=input_shape, num_classes=num_classes, **model_options)


def names() -> list[str]:
    """The registered model names, sorted."""
    return MODELS.names()
