"""GradientNoise: annealed Gaussian noise on the gradients (Neelakantan et al. 2015)."""

from __future__ import annotations

import keras
from keras import ops

from lbkeras.checks import check_float
from lbkeras.optimizers.wrapper import OptimizerWrapper


@keras.saving.register_keras_serializable(package="lbkeras")
class GradientNoise(OptimizerWrapper):
    """Adds annealed Gaussian noise to every gradient before the wrapped optimizer's step.

    At step ``t`` (the number of steps taken so far: 0 for the first) each gradient
    ``g`` becomes::

        g~ = g + N(0, sigma_t^2),     sigma_t^2 = eta / (1 + t)^gamma

    with an independent draw per variable (and per entry), zero gradients included.
    ``t`` is the wrapped optimizer's step counter, shared by the whole wrapper chain.

    Reproducibility: the noise comes from ``keras.random.normal`` with a
    ``keras.random.SeedGenerator(seed)`` whose state is one of this optimizer's variables,
    so the same ``seed`` gives the same noise, and ``model.save`` + ``load_model``
    continue the noise sequence where it stopped. ``seed=None`` picks a random seed.

    Under ``tf.distribute`` the noise is *shared*, not independent per replica: Keras
    applies the all-reduced gradient inside ``distribution.extended.update``, once per
    replica's copy of the variable, and each copy draws from its own copy of the
    mirrored seed state, which starts equal and advances equally. So every replica adds
    the same noise, once, to the same averaged gradient, and a ``MirroredStrategy`` run
    equals a single-device run with the same seed and global batch (tested on 2 logical
    CPU devices). Noise drawn independently per replica would let the replicas' copies of
    a variable drift apart.

    Cost: one Gaussian draw per parameter per step, independent of the batch size, so
    its share of a step falls as the batch grows. It is largest on a CPU with a model
    that does little work per parameter (a wide MLP at a small batch); on an accelerator
    the draw is memory-bound and cheap. ``benchmarks/optimizer_step.py`` measures it
    against the SGD it wraps; the figures are in README's "Benchmarks".

    Args:
        optimizer: the ``keras.optimizers.Optimizer`` to wrap.
        eta: the noise variance at the first step; the paper uses 0.01, 0.3 or 1.0.
        gamma: the decay exponent of the variance; 0.55 in the paper.
        seed: an int for reproducible noise, or None.
        name: the wrapper's name.

    References:
        Neelakantan et al., "Adding Gradient Noise Improves Learning for Very Deep
        Networks", arXiv:1511.06807, 2015.

    Example:
        >>> optimizer = lbkeras.optimizers.GradientNoise(
        ...     keras.optimizers.SGD(0.1, momentum=0.9), eta=0.01, gamma=0.55, seed=0)
    """

    def __init__(
        self,
        optimizer: keras.optimizers.Optimizer,
        eta: float = 0.01,
        gamma: float = 0.55,
        seed: int | None = None,
        name: str = "gradient_noise",
    ) -> None:
        super().__init__(optimizer, name=name)
        self.eta = check_float("eta", eta)
        self.gamma = check_float("gamma", gamma)
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
            raise TypeError(f"seed must be an int or None, got {seed!r}")
        self.seed = seed

    def build(self, var_list):
        if self.built:
            return
        super().build(var_list)
        with keras.name_scope(self.name):
            self._seed_generator = keras.random.SeedGenerator(self.seed, name="noise_seed")
        self._track_variable(self._seed_generator.state)

    def noise_stddev(self):
        """``sigma_t = sqrt(eta / (1 + t)^gamma)`` at the current step ``t``."""
        t = ops.cast(self.iterations, "float32")
        return ops.sqrt(self.eta / ops.power(1.0 + t, self.gamma))

    def transform_gradient(self, gradient, variable):
        gradient = ops.convert_to_tensor(gradient)
        noise = keras.random.normal(
            ops.shape(gradient), dtype=gradient.dtype, seed=self._seed_generator
        )
        return gradient + ops.cast(self.noise_stddev(), gradient.dtype) * noise

    def get_config(self) -> dict:
        config = super().get_config()
        config.update({"eta": self.eta, "gamma": self.gamma, "seed": self.seed})
        return config
