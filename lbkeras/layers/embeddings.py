"""The input embeddings of a sequence model: tokens (tied to the logits) and learned positions.

:class:`TokenEmbedding` is ``keras.layers.Embedding`` that can also run in reverse,
``layer(features, reverse=True)``: the features times the transposed embedding
matrix, the output logits of a language model whose input and output embeddings
are one matrix (weight tying, Press & Wolf). The reverse pass computes in float32
under a mixed-precision policy, so that the logits (and the loss) stay float32.
:class:`PositionEmbedding` adds a learned vector per position (GPT-2).

References:
    Press & Wolf, "Using the Output Embedding to Improve Language Models",
    EACL 2017, arXiv:1608.05859.
    Radford et al., "Language Models are Unsupervised Multitask Learners" (GPT-2), 2019.

Example:
    >>> embedding = TokenEmbedding(256, 8)
    >>> features = PositionEmbedding(16)(embedding(np.zeros((2, 16), "int32")))
    >>> tuple(features.shape), tuple(embedding(features, reverse=True).shape)
    ((2, 16, 8), (2, 16, 256))
"""

from __future__ import annotations

from typing import Any

import keras
from keras import ops

from lbkeras.checks import check_int
from lbkeras.layers.causal_self_attention import INIT_STDDEV


@keras.saving.register_keras_serializable(package="lbkeras")
class TokenEmbedding(keras.layers.Embedding):
    """``keras.layers.Embedding`` with a reverse pass to logits (weight tying).

    The embeddings start from a normal distribution of standard deviation
    :data:`~lbkeras.layers.causal_self_attention.INIT_STDDEV` unless
    ``embeddings_initializer`` says otherwise. The layer does not autocast its
    variable: the lookup is cast to the compute dtype, the reverse pass runs in
    float32 and returns float32 logits.

    Args:
        input_dim: the vocabulary size.
        output_dim: the embedding width.
        **kwargs: ``keras.layers.Embedding`` arguments.
    """

    def __init__(self, input_dim: int, output_dim: int, **kwargs: Any) -> None:
        kwargs.setdefault(
            "embeddings_initializer", keras.initializers.RandomNormal(stddev=INIT_STDDEV)
        )
        super().__init__(input_dim, output_dim, **kwargs)
        self.autocast = False

    def call(self, inputs: Any, reverse: bool = False) -> Any:
        if not reverse:
            return super().call(inputs)
        features = ops.cast(inputs, "float32")
        return ops.matmul(features, ops.transpose(ops.cast(self.embeddings, "float32")))

    def compute_output_spec(self, inputs: Any, reverse: bool = False) -> Any:
        if not reverse:
            return super().compute_output_spec(inputs)
        return keras.KerasTensor((*inputs.shape[:-1], self.input_dim), dtype="float32")


@keras.saving.register_keras_serializable(package="lbkeras")
class PositionEmbedding(keras.layers.Layer):
    """Adds a learned vector per position to features ``(batch, seq, width)``.

    Args:
        max_length: positions it has vectors for; ``seq`` may be shorter.
        **kwargs: ``keras.layers.Layer`` arguments.
    """

    def __init__(self, max_length: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.max_length = check_int("max_length", max_length, positive=True)

    def build(self, input_shape: tuple[int | None, ...]) -> None:
        self.embeddings = self.add_weight(
            shape=(self.max_length, input_shape[-1]),
            initializer=keras.initializers.RandomNormal(stddev=INIT_STDDEV),
            name="embeddings",
        )

    def call(self, inputs: Any) -> Any:
        seq = ops.shape(inputs)[1]
        return inputs + ops.cast(self.embeddings[:seq], inputs.dtype)[None]

    def compute_output_shape(self, input_shape: tuple[int | None, ...]) -> tuple[int | None, ...]:
        return input_shape

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "max_length": self.max_length}
