"""lbkeras: large-batch training for Keras 3 on TensorFlow.

The public API, re-exported; nothing else lives here. ``lbkeras.training``,
``lbkeras.distribute`` and ``lbkeras.callbacks`` need TensorFlow and are imported
explicitly; what is imported here also runs with ``KERAS_BACKEND=jax``, and registers
every serialisable class (``GradientStatistics`` included), so that ``import lbkeras``
is all ``keras.saving.load_model`` needs.

Example:
    >>> import keras, lbkeras
    >>> lr = lbkeras.scaling.scale_learning_rate(0.1, global_batch_size=8192)
    >>> lr  # the linear rule: 0.1 per 256 examples
    3.2
    >>> schedule = lbkeras.schedules.Warmup(
    ...     keras.optimizers.schedules.PolynomialDecay(lr, 1000, power=2.0),
    ...     warmup_steps=100)
    >>> optimizer = lbkeras.optimizers.LARS(schedule, momentum=0.9, weight_decay=5e-4)
"""

from lbkeras import data, layers, metrics, models, monitoring, optimizers, scaling, schedules
from lbkeras.scaling import scale_adam_hyperparameters, scale_learning_rate

__version__ = "0.1.0"

__all__ = [
    "data",
    "layers",
    "metrics",
    "models",
    "monitoring",
    "optimizers",
    "scaling",
    "schedules",
    "scale_adam_hyperparameters",
    "scale_learning_rate",
]
