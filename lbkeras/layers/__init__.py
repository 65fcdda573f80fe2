"""Layers for large-batch training."""

from lbkeras.layers.ghost_batch_norm import GhostBatchNormalization, use_ghost_batch_norm

__all__ = ["GhostBatchNormalization", "use_ghost_batch_norm"]
