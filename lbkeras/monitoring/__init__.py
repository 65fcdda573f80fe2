"""Measuring large-batch training: the gradient noise scale, norms and trust ratios.

:class:`GradientStatistics` (an optimizer wrapper, backend-independent) measures;
``lbkeras.monitoring.logger.GradientStatisticsLogger`` (TensorFlow) writes TensorBoard
summaries of what it measured. The noise-scale arithmetic both build on lives below
them, in :mod:`lbkeras.optimizers.noise_scale` (``AdaScale`` needs it too); it is
re-exported here as ``lbkeras.monitoring.noise_scale``.
"""

from lbkeras.monitoring.gradient_statistics import GradientStatistics
from lbkeras.optimizers import noise_scale

__all__ = ["GradientStatistics", "noise_scale"]
