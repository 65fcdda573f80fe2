"""Layers for large-batch training."""

from lbkeras.layers.ghost_batch_norm import GhostBatchNormalization

__all__ = ["GhostBatchNormalization"]
