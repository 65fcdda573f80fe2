"""Causal multi-head self-attention, with optional rotary positions (RoPE).

A decoder-only transformer attends from every position to itself and the positions
before it, never after: the causal mask of Vaswani et al. Here the mask is
``keras.ops.dot_product_attention(..., is_causal=True)``, the same kernel on every
backend. With ``rotary=True`` the queries and keys are rotated by their position
before the dot product (Su et al.), so that attention depends on relative positions
and the model needs no position embedding. Rotation pairs dimension ``i`` with
``i + head_dim / 2`` (the GPT-NeoX / Llama layout).

References:
    Vaswani et al., "Attention Is All You Need", NeurIPS 2017, arXiv:1706.03762.
    Su et al., "RoFormer: Enhanced Transformer with Rotary Position Embedding",
    arXiv:2104.09864, 2021.

Example:
    >>> layer = CausalSelfAttention(num_heads=2, rotary=True)
    >>> tuple(layer(np.zeros((3, 5, 8), "float32")).shape)
    (3, 5, 8)
"""

from __future__ import annotations

from typing import Any

import keras
from keras import ops

from lbkeras.checks import check_float, check_int

#: Residual projections start at this standard deviation over sqrt(2 x layers) (GPT-2).
INIT_STDDEV = 0.02


def rotate(x: Any, base: float = 10_000.0) -> Any:
    """``x`` of shape ``(batch, seq, heads, head_dim)`` rotated by position (RoPE).

    Position ``t`` turns the pair ``(x[i], x[i + head_dim / 2])`` by the angle
    ``t * base ** (-2 i / head_dim)``; the angles are computed in float32.
    """
    head_dim = x.shape[-1]
    half = head_dim // 2
    positions = ops.arange(ops.shape(x)[1], dtype="float32")
    frequencies = ops.power(base, -ops.arange(0, half, dtype="float32") * 2.0 / head_dim)
    angles = positions[:, None] * frequencies[None, :]  # (seq, half)
    cos = ops.cast(ops.cos(angles), x.dtype)[None, :, None, :]
    sin = ops.cast(ops.sin(angles), x.dtype)[None, :, None, :]
    first, second = x[..., :half], x[..., half:]
    return ops.concatenate([first * cos - second * sin, second * cos + first * sin], axis=-1)


@keras.saving.register_keras_serializable(package="lbkeras")
class CausalSelfAttention(keras.layers.Layer):
    """Multi-head self-attention in which position ``t`` sees positions ``0 .. t`` only.

    One ``Dense`` projects the input to queries, keys and values (``query_key_value``),
    each head attends with scale ``1 / sqrt(head_dim)``, and a second ``Dense``
    (``output``) projects the heads back to the input's width.

    Args:
        num_heads: attention heads; they split the input's width evenly.
        rotary: rotate queries and keys by position (RoPE, :func:`rotate`).
        rotary_base: the RoPE wavelength base.
        output_stddev: standard deviation of the output projection's initial kernel
            (the query/key/value kernel starts at :data:`INIT_STDDEV`).
        **kwargs: ``keras.layers.Layer`` arguments (``name``, ``dtype``).
    """

    def __init__(
        self,
        num_heads: int,
        rotary: bool = False,
        rotary_base: float = 10_000.0,
        output_stddev: float = INIT_STDDEV,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.num_heads = check_int("num_heads", num_heads, positive=True)
        self.rotary = bool(rotary)
        self.rotary_base = check_float("rotary_base", rotary_base, positive=True)
        self.output_stddev = check_float("output_stddev", output_stddev, positive=True)

    def build(self, input_shape: tuple[int | None, ...]) -> None:
        width = input_shape[-1]
        if width % self.num_heads:
            raise ValueError(f"width {width} is not divisible by num_heads={self.num_heads}")
        self.head_dim = width // self.num_heads
        if self.rotary and self.head_dim % 2:
            raise ValueError(f"rotary positions need an even head width, got {self.head_dim}")
        self.query_key_value = keras.layers.Dense(
            3 * width,
            kernel_initializer=keras.initializers.RandomNormal(stddev=INIT_STDDEV),
            dtype=self.dtype_policy,
            name="query_key_value",
        )
        self.query_key_value.build(input_shape)
        self.output_projection = keras.layers.Dense(
            width,
            kernel_initializer=keras.initializers.RandomNormal(stddev=self.output_stddev),
            dtype=self.dtype_policy,
            name="output",
        )
        self.output_projection.build((*input_shape[:-1], width))

    def call(self, inputs: Any) -> Any:
        batch, seq = ops.shape(inputs)[0], ops.shape(inputs)[1]
        qkv = ops.reshape(
            self.query_key_value(inputs), (batch, seq, 3, self.num_heads, self.head_dim)
        )
        query, key, value = qkv[:, :, 0], qkv[:, :, 1], qkv[:, :, 2]
        if self.rotary:
            query, key = rotate(query, self.rotary_base), rotate(key, self.rotary_base)
        heads = ops.dot_product_attention(query, key, value, is_causal=True)
        return self.output_projection(
            ops.reshape(heads, (batch, seq, self.num_heads * self.head_dim))
        )

    def compute_output_shape(self, input_shape: tuple[int | None, ...]) -> tuple[int | None, ...]:
        return input_shape

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "num_heads": self.num_heads,
            "rotary": self.rotary,
            "rotary_base": self.rotary_base,
            "output_stddev": self.output_stddev,
        }
