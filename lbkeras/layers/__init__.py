"""Layers for large-batch training, conversions of any model's batch norms, and the
building blocks of the transformer language model."""

from lbkeras.layers.causal_self_attention import CausalSelfAttention
from lbkeras.layers.embeddings import PositionEmbedding, TokenEmbedding
from lbkeras.layers.ghost_batch_norm import GhostBatchNormalization, use_ghost_batch_norm
from lbkeras.layers.sync_batch_norm import replace_batch_norms, use_sync_batch_norm

__all__ = [
    "CausalSelfAttention",
    "GhostBatchNormalization",
    "PositionEmbedding",
    "TokenEmbedding",
    "replace_batch_norms",
    "use_ghost_batch_norm",
    "use_sync_batch_norm",
]
