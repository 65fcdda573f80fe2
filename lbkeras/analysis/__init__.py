"""Properties of a trained model: the sharpness of its minimum (Keskar et al. 2017), and
its exact gradient noise scale (McCandlish et al. 2018).

* :func:`top_hessian_eigenvalue`: the largest curvature, by power iteration on
  Hessian-vector products (:class:`HessianVectorProduct`, never the Hessian itself).
* :func:`epsilon_sharpness`: Keskar et al.'s epsilon-sharpness, the largest relative rise
  of the loss in a box around the weights (a lower bound, by projected ascent).
* :func:`measure_sharpness`: both, as a dict; :func:`sharpness_of_run`: both for a
  trainer run's ``model_dir``, written to ``sharpness.json`` (``lbkeras-sharpness``).
* :func:`exact_b_simple`, :func:`exact_b_noise`: the noise scales from every example's
  gradient (:func:`per_example_gradients`) and the Hessian (:func:`dense_hessian`).

The sharpness measures measure :class:`BatchLoss`: the model's loss in inference mode over
a fixed list of batches.
"""

from lbkeras.analysis.hessian import (
    HessianVectorProduct,
    TopEigenvalue,
    power_iteration,
    top_hessian_eigenvalue,
)
from lbkeras.analysis.loss import BatchLoss, resolve_loss
from lbkeras.analysis.noise_scale import (
    dense_hessian,
    exact_b_noise,
    exact_b_simple,
    per_example_gradients,
)
from lbkeras.analysis.sharpness import EpsilonSharpness, epsilon_sharpness, measure_sharpness
from lbkeras.analysis.trained_run import (
    SHARPNESS_FILE,
    SharpnessSettings,
    sharpness_of_run,
    training_batches,
)

__all__ = [
    "SHARPNESS_FILE",
    "BatchLoss",
    "EpsilonSharpness",
    "HessianVectorProduct",
    "SharpnessSettings",
    "TopEigenvalue",
    "dense_hessian",
    "epsilon_sharpness",
    "exact_b_noise",
    "exact_b_simple",
    "measure_sharpness",
    "per_example_gradients",
    "power_iteration",
    "resolve_loss",
    "sharpness_of_run",
    "top_hessian_eigenvalue",
    "training_batches",
]
