"""Layers for large-batch training, and conversions of any model's batch norms."""

from lbkeras.layers.ghost_batch_norm import GhostBatchNormalization, use_ghost_batch_norm
from lbkeras.layers.sync_batch_norm import replace_batch_norms, use_sync_batch_norm

__all__ = [
    "GhostBatchNormalization",
    "replace_batch_norms",
    "use_ghost_batch_norm",
    "use_sync_batch_norm",
]
