"""Measuring large-batch training: the gradient noise scale, norms and trust ratios.

:class:`GradientStatistics` (an optimizer wrapper, backend-independent) measures;
``lbkeras.monitoring.logger.GradientStatisticsLogger`` (TensorFlow) writes TensorBoard
summaries of what it measured.
"""

from lbkeras.monitoring import noise_scale
from lbkeras.monitoring.gradient_statistics import GradientStatistics

__all__ = ["GradientStatistics", "noise_scale"]
