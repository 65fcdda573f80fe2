"""Every optimizer and wrapper of lbkeras, and some compositions, through the same checks.

optax's idea of one conformance suite: on a convex quadratic (least squares with one
Dense layer, 8 steps of batch 64 per epoch) each case must

1. converge: the loss falls by more than 90% in 32 steps;
2. survive ``model.save`` and ``keras.saving.load_model`` in a new process, with its
   state, and continue exactly as the uninterrupted run;
3. end where the one-device run ends under ``MirroredStrategy`` over 2 logical CPUs
   (after 16 steps, two Lookahead synchronisations);
4. train XLA-compiled (``jit_compile=True``) and end where the graph run ends. Noise
   differs: TensorFlow's stateless RNG picks another algorithm under XLA, so with
   GradientNoise the XLA run draws other (equally seeded) noise and only converges.

The cases and their NumPy references live in ``cases.py``; matching the reference step by
step, on every Keras backend, is ``conformance_reference_test.py``.

To keep the file fast: one ``model.fit`` run per case, interrupted by ``model.save``,
serves checks 1 to 3; one new process continues all saved models; and checks 3 and 4
train all cases in one traced function, with the step Keras's ``train_step`` takes
(loss / replicas, gradients, ``optimizer.apply`` inside ``strategy.run``), instead of
one ``model.fit`` (one trace) per case. ``model.fit`` under the strategy is checked
once, for the chain with noise.
"""

import dataclasses
import os

import keras
import numpy as np
import pytest
import tensorflow as tf

from lbkeras import optimizers
from lbkeras.optimizers import OptimizerWrapper
from tests.optimizers.cases import CASES, NOISY, REFERENCES, SPLIT_DEPENDENT, data
from tests.optimizers.continue_training import continue_in_new_process

EPOCHS = 2  # before the save, and again after it: 2 x 2 x 8 = 32 steps
# Updates taken by the save where they are not the steps (micro-batches): 3 + 13 // 2.
UPDATES_AT_SAVE = {
    "gradient_accumulation(lookahead(sgd))": 9,
    "gradient_accumulation(gradient_statistics(sgd))": 8,  # 2 micro-batches an update
    "gradient_accumulation(adascale(sgd))": 8,
}


def _loss(weights, x, y) -> float:
    kernel, bias = weights
    return float(np.mean((x @ kernel + bias - y) ** 2))


def _compiled(name) -> keras.Model:
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1, name="dense")])
    model.compile(optimizer=CASES[name](), loss="mse")
    return model


def _numpy(variables) -> list[np.ndarray]:
    return [keras.ops.convert_to_numpy(v) for v in variables]


def _fit(model, x, y, epochs):
    model.fit(x, y, batch_size=64, epochs=epochs, shuffle=False, verbose=0)
    return _numpy(model.weights)


@dataclasses.dataclass
class Run:
    saved: str  # the model saved after EPOCHS epochs, next to data.npz
    initial: list  # weights before training
    saved_weights: list  # weights after EPOCHS epochs, when saved
    saved_state: list  # optimizer variables then
    final: list  # weights after 2 * EPOCHS epochs, uninterrupted
    optimizer_class: str


@pytest.fixture(scope="module")
def one_device(tmp_path_factory):
    """Per case: EPOCHS epochs, model.save, EPOCHS more epochs, on one device."""
    folder = tmp_path_factory.mktemp("conformance")
    x, y = data()
    np.savez(folder / "data.npz", x=x, y=y)
    runs = {}
    for i, name in enumerate(CASES):
        model = _compiled(name)
        initial = _numpy(model.weights)
        weights = _fit(model, x, y, EPOCHS)
        saved = str(folder / f"{i}.keras")
        model.save(saved)
        state = _numpy(model.optimizer.variables)
        final = _fit(model, x, y, EPOCHS)
        runs[name] = Run(saved, initial, weights, state, final, type(model.optimizer).__name__)
    return runs


@pytest.fixture(scope="module")
def continued(one_device):
    """Per case, continue_training.py's output: loaded in one new process, trained EPOCHS."""
    jobs = [
        (
            run.saved,
            os.path.join(os.path.dirname(run.saved), "data.npz"),
            EPOCHS,
            run.saved.replace(".keras", ".npz"),
        )
        for run in one_device.values()
    ]
    return dict(zip(one_device, continue_in_new_process(jobs)))


def test_every_lbkeras_optimizer_and_wrapper_has_a_case():
    covered = set()
    for make in CASES.values():
        optimizer = make()
        while isinstance(optimizer, OptimizerWrapper):
            covered.add(type(optimizer))
            optimizer = optimizer.inner_optimizer
        covered.add(type(optimizer))
    ours = {
        cls
        for cls in map(optimizers.__dict__.get, optimizers.__all__)
        if isinstance(cls, type) and issubclass(cls, keras.optimizers.Optimizer)
    }
    bases = {optimizers.LayerwiseOptimizer, OptimizerWrapper}
    assert ours - bases <= covered, sorted(c.__name__ for c in ours - bases - covered)
    assert set(REFERENCES) == set(CASES)  # each case has its NumPy reference


@pytest.mark.parametrize("name", CASES)
def test_converges_on_a_quadratic(name, one_device):
    run = one_device[name]
    x, y = data()
    assert _loss(run.final, x, y) < 0.1 * _loss(run.initial, x, y)


@pytest.mark.parametrize("name", CASES)
def test_save_load_in_new_process_continues_identically(name, one_device, continued):
    run, out = one_device[name], continued[name]
    assert str(out["optimizer_class"]) == run.optimizer_class
    assert int(out["loaded_iterations"]) == UPDATES_AT_SAVE.get(name, EPOCHS * 8)
    for i, value in enumerate(run.saved_state):
        np.testing.assert_array_equal(out[f"state_{i}"], value, err_msg=f"state {i}")
    for i, value in enumerate(run.final):
        np.testing.assert_array_equal(out[f"weight_{i}"], value, err_msg=f"weight {i}")


def _train_all_cases(strategy, epochs, jit_compile=False) -> dict:
    """Each case's weights after ``epochs`` epochs, all cases trained in one function."""
    x, y = data()
    with strategy.scope():
        models = [_compiled(name) for name in CASES]
        if strategy.num_replicas_in_sync > 1:  # as model.fit: built eagerly under a strategy,
            for model in models:  # and in the first (XLA-compiled) step otherwise
                model.optimizer.build(model.trainable_variables)
    batches = tf.data.Dataset.from_tensor_slices((x, y)).batch(64).repeat(epochs)

    def replica_step(x_batch, y_batch):
        for model in models:
            with tf.GradientTape() as tape:
                mse = tf.reduce_mean(tf.square(model(x_batch, training=True) - y_batch))
                loss = mse / strategy.num_replicas_in_sync
            variables = model.trainable_variables
            model.optimizer.apply(tape.gradient(loss, variables), variables)

    @tf.function(jit_compile=jit_compile)
    def step(x_batch, y_batch):
        strategy.run(replica_step, args=(x_batch, y_batch))

    for x_batch, y_batch in strategy.experimental_distribute_dataset(batches):
        step(x_batch, y_batch)
    return {name: _numpy(model.weights) for name, model in zip(CASES, models)}


@pytest.fixture(scope="module")
def mirrored_runs(mirrored_strategy):
    # EPOCHS, not 2 * EPOCHS: the replicas' synchronisation is slow on a busy 2-core machine.
    # The session's one strategy (tests/conftest.py): several in a process clash.
    return _train_all_cases(mirrored_strategy, EPOCHS)


@pytest.fixture(scope="module")
def xla_runs():
    return _train_all_cases(tf.distribute.get_strategy(), 2 * EPOCHS, jit_compile=True)


@pytest.mark.parametrize("name", CASES)
def test_mirrored_matches_one_device(name, one_device, mirrored_runs):
    if name in SPLIT_DEPENDENT:
        x, y = (
            data()
        )  # still trains under the strategy (equality: tests/optimizers/adascale_test.py)
        assert _loss(mirrored_runs[name], x, y) < 0.5 * _loss(one_device[name].initial, x, y)
        return
    for ours, single in zip(mirrored_runs[name], one_device[name].saved_weights):
        np.testing.assert_allclose(ours, single, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("name", CASES)
def test_jit_compile(name, one_device, xla_runs):
    run, weights = one_device[name], xla_runs[name]
    if name in NOISY:
        x, y = data()
        assert _loss(weights, x, y) < 0.1 * _loss(run.initial, x, y)
        return
    for ours, graph in zip(weights, run.final):
        np.testing.assert_allclose(ours, graph, rtol=1e-4, atol=1e-5)


def test_model_fit_under_mirrored_strategy_matches_one_device(one_device, mirrored_strategy):
    name = "trust_ratio(gradient_noise(sgd))"
    x, y = data()
    with mirrored_strategy.scope():
        model = _compiled(name)
    for ours, single in zip(_fit(model, x, y, EPOCHS), one_device[name].saved_weights):
        np.testing.assert_allclose(ours, single, rtol=1e-4, atol=1e-5)
