"""Datasets. For now MNIST-1D, generated offline; the registry comes with the trainer."""

from lbkeras.data.mnist1d import load_mnist1d

__all__ = ["load_mnist1d"]
