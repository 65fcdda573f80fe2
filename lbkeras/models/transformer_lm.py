"""A decoder-only transformer language model (GPT-2 layout, pre-norm), small by default.

Tokens (bytes, for the ``text`` dataset) are embedded, get a learned position vector
or rotary positions, and pass through ``num_layers`` pre-norm blocks (Xiong et al.),
each ``x + attention(norm(x))`` then ``x + mlp(norm(x))``, with causal self-attention
(:class:`~lbkeras.layers.CausalSelfAttention`) and a GELU MLP; a final norm and the
logits follow, by default through the token embedding itself (weight tying). The
output is next-token logits at every position, ``(batch, context, vocabulary)``, in
float32 also under a mixed-precision policy. The context is the model's
``input_shape`` (the dataset's window) and the vocabulary its ``num_classes``.

Weights start as GPT-2's: normal with standard deviation 0.02, the projections into
the residual stream at 0.02 / sqrt(2 x num_layers). Layers are named after their
place (``block0_attention_norm``, ``block1_mlp_out``...), so the optimizers'
exclusions find the norms by ``"norm"`` and the biases by ``"bias"`` in
``variable.path`` (or all 1-D variables with ``exclude_1d_variables``).

References:
    Radford et al., "Language Models are Unsupervised Multitask Learners" (GPT-2), 2019.
    Xiong et al., "On Layer Normalization in the Transformer Architecture", ICML 2020,
    arXiv:2002.04745.

Example:
    >>> model = transformer_lm(input_shape=(32,), num_classes=256, num_layers=1, width=16,
    ...                        num_heads=2)
    >>> model.output.shape, model.output.dtype
    ((None, 32, 256), 'float32')
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import keras

from lbkeras.checks import check_int
from lbkeras.layers.causal_self_attention import INIT_STDDEV, CausalSelfAttention
from lbkeras.layers.embeddings import PositionEmbedding, TokenEmbedding
from lbkeras.models.common import check_arguments, check_bool, logits

#: Ways to tell the model where a token is.
POSITIONS = ("learned", "rotary")


def transformer_lm(
    *,
    input_shape: Sequence[int],
    num_classes: int,
    num_layers: int = 4,
    width: int = 128,
    num_heads: int = 4,
    mlp_ratio: int = 4,
    positions: str = "learned",
    tie_embeddings: bool = True,
) -> keras.Model:
    """Builds the transformer; its input is int32 token ids ``(batch, context)``.

    Args:
        input_shape: ``(context,)``: tokens per sequence.
        num_classes: the vocabulary size (256 for bytes).
        num_layers: transformer blocks.
        width: the residual stream's width (the embedding size).
        num_heads: attention heads; they split ``width`` evenly.
        mlp_ratio: the MLP's hidden width over ``width``.
        positions: "learned" (a vector per position, added to the embedding) or
            "rotary" (RoPE inside every attention layer).
        tie_embeddings: the logits are the features times the token embedding
            (no separate output matrix).

    Returns:
        A functional ``keras.Model`` named ``"transformer_lm"`` that outputs float32
        logits ``(batch, context, num_classes)``.

    Raises:
        ValueError: a bad shape or size, heads that do not divide the width, an odd
            head width with rotary positions, or unknown ``positions``.
    """
    (context,), vocabulary = check_arguments("transformer_lm", input_shape, num_classes, (1,))
    num_layers = check_int("num_layers", num_layers, positive=True)
    width = check_int("width", width, positive=True)
    num_heads = check_int("num_heads", num_heads, positive=True)
    mlp_ratio = check_int("mlp_ratio", mlp_ratio, positive=True)
    tie_embeddings = check_bool("tie_embeddings", tie_embeddings)
    if positions not in POSITIONS:
        raise ValueError(f"transformer_lm: positions={positions!r}; choose one of: {POSITIONS}")
    if width % num_heads or (positions == "rotary" and (width // num_heads) % 2):
        raise ValueError(
            f"transformer_lm: width {width} must split into num_heads={num_heads} heads of "
            "equal width (an even width with rotary positions)"
        )
    init = keras.initializers.RandomNormal(stddev=INIT_STDDEV)
    residual_stddev = INIT_STDDEV / math.sqrt(2 * num_layers)

    tokens = keras.Input((context,), dtype="int32", name="tokens")
    embedding = TokenEmbedding(vocabulary, width, name="token_embedding")
    h = embedding(tokens)
    if positions == "learned":
        h = PositionEmbedding(context, name="position_embedding")(h)
    for i in range(num_layers):
        a = keras.layers.LayerNormalization(epsilon=1e-5, name=f"block{i}_attention_norm")(h)
        a = CausalSelfAttention(
            num_heads,
            rotary=positions == "rotary",
            output_stddev=residual_stddev,
            name=f"block{i}_attention",
        )(a)
        h = keras.layers.Add(name=f"block{i}_attention_residual")([h, a])
        m = keras.layers.LayerNormalization(epsilon=1e-5, name=f"block{i}_mlp_norm")(h)
        m = keras.layers.Dense(
            mlp_ratio * width, activation="gelu", kernel_initializer=init, name=f"block{i}_mlp_in"
        )(m)
        m = keras.layers.Dense(
            width,
            kernel_initializer=keras.initializers.RandomNormal(stddev=residual_stddev),
            name=f"block{i}_mlp_out",
        )(m)
        h = keras.layers.Add(name=f"block{i}_mlp_residual")([h, m])
    h = keras.layers.LayerNormalization(epsilon=1e-5, name="final_norm")(h)
    outputs = embedding(h, reverse=True) if tie_embeddings else logits(h, vocabulary)
    return keras.Model(tokens, outputs, name="transformer_lm")
