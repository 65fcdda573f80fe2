"""The optimizers the model-level tests train with: LARS and LAMB under a warmup."""

import keras

from lbkeras.optimizers import LAMB, LARS
from lbkeras.schedules import Warmup

OPTIMIZER_NAMES = ("lars", "lamb")


def make_optimizer(name: str, total_steps: int = 40) -> keras.optimizers.Optimizer:
    if name == "lars":
        decay = keras.optimizers.schedules.PolynomialDecay(8.0, total_steps, 0.0, power=2.0)
        return LARS(
            Warmup(decay, warmup_steps=4, initial_learning_rate=0.5),
            momentum=0.9,
            weight_decay=1e-4,
            exclude_1d_variables=True,
        )
    if name == "lamb":
        decay = keras.optimizers.schedules.PolynomialDecay(0.05, total_steps, 0.0, power=1.0)
        return LAMB(
            Warmup(decay, warmup_steps=4),
            weight_decay=0.01,
            exclude_from_weight_decay=["bias", "norm"],
        )
    raise ValueError(name)


def compile_classifier(model: keras.Model, name: str, **kwargs) -> keras.Model:
    model.compile(
        optimizer=make_optimizer(name),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
        **kwargs,
    )
    return model
