"""GradientAccumulation against a NumPy reference, and against Keras's gradient_accumulation_steps.

Backend-independent: also run with KERAS_BACKEND=jax (tests/backend_jax_test.py). Graph
mode, XLA and MirroredStrategy: conformance_test.py and gradient_accumulation_distribute_test.py.
"""

import keras
import numpy as np
import pytest

from lbkeras import optimizers
from lbkeras.optimizers import GradientAccumulation, PiecewiseConstantSteps, TrustRatio
from tests.optimizers import reference
from tests.optimizers.common import make_variable, random_gradients
from tests.optimizers.stepping import apply, run_against_reference, values

SHAPES = [(4, 3), (3,)]


def _layer(seed=1):
    rng = np.random.default_rng(seed)
    return {"dense/kernel": rng.normal(size=(4, 3)), "dense/bias": np.zeros(3)}


def _reference(steps, update):
    """Micro-steps accumulate; ``update(t, weights, mean_grads)`` is update number ``t``."""
    accumulator = reference.GradientAccumulator(steps)

    def step(_, weights, grads):
        due = accumulator.add(grads)
        if due is None:
            return weights
        t, mean_grads = due
        return update(t, weights, mean_grads)

    return step


def _sgd(learning_rate, momentum):
    """Keras's SGD at rate ``learning_rate(t)`` for update ``t``."""
    momenta = {}

    def update(t, weights, grads):
        out = []
        for i, (w, g) in enumerate(zip(weights, grads)):
            w, momenta[i] = reference.sgd_step(
                w, g, momenta.get(i, 0.0), learning_rate(t), momentum=momentum
            )
            out.append(w)
        return out

    return update


def test_matches_reference_around_sgd_momentum_with_a_learning_rate_schedule():
    # The rate halves per update, not per micro-batch (the bug of keras-team/keras#19990).
    schedule = keras.optimizers.schedules.ExponentialDecay(0.1, decay_steps=1, decay_rate=0.5)
    grads = random_gradients(SHAPES, 10, zero_steps=(4,))  # 3 updates, 1 micro-batch pending
    optimizer = GradientAccumulation(keras.optimizers.SGD(schedule, momentum=0.9), steps=3)
    step = _reference(3, _sgd(lambda t: 0.1 * 0.5**t, 0.9))
    run_against_reference(optimizer, _layer(), grads, step)
    assert int(keras.ops.convert_to_numpy(optimizer.iterations)) == 3
    assert int(keras.ops.convert_to_numpy(optimizer.micro_steps)) == 10


def test_steps_growing_from_2_to_4_around_adamw_with_clipping():
    """Smith et al.: the batch grows; decay, clipping and bias corrections count updates."""
    lr, wd, clip = 0.05, 0.1, 1.0
    steps = PiecewiseConstantSteps(boundaries=[2], values=[2, 4])
    grads = random_gradients(SHAPES, 13)  # updates of 2, 2, 4, 4 micro-batches; 1 pending
    inner = keras.optimizers.AdamW(
        lr, wd, beta_1=0.9, beta_2=0.99, epsilon=1e-7, global_clipnorm=clip
    )
    moments = {}

    def adamw(t, weights, grads):
        out = []
        for i, (w, g) in enumerate(zip(weights, reference.clip_by_global_norm(grads, clip))):
            m, v = moments.get(i, (0.0, 0.0))
            w = w - w * wd * lr  # decoupled weight decay, before the step
            w, m, v = reference.adam_step(w, g, m, v, t + 1, lr, beta_1=0.9, beta_2=0.99, eps=1e-7)
            moments[i] = m, v
            out.append(w)
        return out

    optimizer = GradientAccumulation(inner, steps)
    run_against_reference(optimizer, _layer(), grads, _reference(steps, adamw), rtol=1e-4)
    assert int(keras.ops.convert_to_numpy(optimizer.iterations)) == 4
    assert int(keras.ops.convert_to_numpy(inner.iterations)) == 4


def _train(optimizer, steps):
    """The variables after each of ``steps`` micro-steps of fixed random gradients."""
    rng = np.random.default_rng(0)
    variables = [make_variable(rng.normal(size=s), f"layer/v{i}") for i, s in enumerate(SHAPES)]
    history = []
    for grads in random_gradients(SHAPES, steps):
        apply(optimizer, variables, grads)
        history.append(values(variables))
    return history


def test_equals_keras_gradient_accumulation_steps_for_a_fixed_count():
    ours = _train(GradientAccumulation(keras.optimizers.SGD(0.1, momentum=0.9), steps=3), 9)
    keras_own = _train(keras.optimizers.SGD(0.1, momentum=0.9, gradient_accumulation_steps=3), 9)
    for step, (a, b) in enumerate(zip(ours, keras_own)):
        for x, y in zip(a, b):
            np.testing.assert_allclose(x, y, rtol=1e-6, atol=1e-7, err_msg=f"micro-step {step}")


def test_keras_own_accumulation_runs_the_schedule_on_micro_steps():
    """Documents keras-team/keras#19990 (see GradientAccumulation's docstring).

    Three micro-batches per update and a rate halving per step: Keras's first update
    uses the rate of step 2 and its second that of step 5. If this fails, Keras fixed it.
    """

    def run(optimizer):
        variable = keras.Variable(np.zeros(1, np.float32))
        for _ in range(6):
            optimizer.apply([keras.ops.ones(1)], [variable])
        return float(keras.ops.convert_to_numpy(variable)[0])

    def schedule():
        return keras.optimizers.schedules.ExponentialDecay(1.0, decay_steps=1, decay_rate=0.5)

    keras_own = keras.optimizers.SGD(schedule(), gradient_accumulation_steps=3)
    assert run(keras_own) == pytest.approx(-(0.5**2 + 0.5**5))
    assert int(keras.ops.convert_to_numpy(keras_own.iterations)) == 2  # counts updates
    assert run(GradientAccumulation(keras.optimizers.SGD(schedule()), 3)) == pytest.approx(-1.5)


def test_steps_one_is_the_wrapped_optimizer():
    ours = _train(GradientAccumulation(keras.optimizers.Adam(0.1), steps=1), 4)
    alone = _train(keras.optimizers.Adam(0.1), 4)
    for x, y in zip(ours[-1], alone[-1]):
        np.testing.assert_allclose(x, y, rtol=1e-6, atol=1e-7)


def test_accumulators_and_counters_are_saved_optimizer_variables():
    sgd = keras.optimizers.SGD(0.1, momentum=0.9)
    optimizer = GradientAccumulation(sgd, steps=2)
    variables = [make_variable(np.ones(s), f"layer/v{i}") for i, s in enumerate(SHAPES)]
    grads = random_gradients(SHAPES, 3)
    for step_grads in grads:
        apply(optimizer, variables, step_grads)
    # Own state (micro-step counter, accumulated count, one accumulator per variable), then SGD's.
    own = optimizer.variables[: 2 + len(SHAPES)]
    assert optimizer.variables[2 + len(SHAPES) :] == sgd.variables
    assert [int(keras.ops.convert_to_numpy(v)) for v in own[:2]] == [3, 1]
    for accumulator, g in zip(own[2:], grads[-1]):
        np.testing.assert_allclose(keras.ops.convert_to_numpy(accumulator), g, rtol=1e-6)
    assert int(keras.ops.convert_to_numpy(optimizer.iterations)) == 1


def test_model_fit_updates_once_per_steps_batches():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(96, 4)).astype("float32")
    y = (x @ rng.normal(size=(4, 1))).astype("float32")
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
    model.compile(optimizer=GradientAccumulation(keras.optimizers.SGD(0.1), steps=4), loss="mse")
    history = model.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    assert int(keras.ops.convert_to_numpy(model.optimizer.iterations)) == 6  # 24 batches / 4
    assert int(keras.ops.convert_to_numpy(model.optimizer.micro_steps)) == 24


def test_inside_a_loss_scale_optimizer(tmp_path):
    """mixed_float16 puts Keras's LossScaleOptimizer around it, which builds it with
    attribute tracking off: its state must still be saved and (on JAX) carried."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 4)).astype("float32")
    y = (x @ rng.normal(size=(4, 1))).astype("float32")
    inner = GradientAccumulation(keras.optimizers.SGD(0.1), steps=4)
    optimizer = keras.optimizers.LossScaleOptimizer(inner)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
    model.compile(optimizer=optimizer, loss="mse")
    initial_loss = model.evaluate(x, y, verbose=0)
    model.fit(x, y, batch_size=8, epochs=3, shuffle=False, verbose=0)  # 15 micro-batches
    assert model.evaluate(x, y, verbose=0) < initial_loss
    assert [int(keras.ops.convert_to_numpy(v)) for v in (inner.iterations, inner.micro_steps)] == [
        3,
        15,
    ]
    saved = [v.path for v in optimizer.variables]
    assert {inner._accumulated.path, *(a.path for a in inner._accumulators)} <= set(saved)
    assert len(saved) == len(set(saved))  # each saved once
    model.save(tmp_path / "model.keras")  # mid-accumulation: 3 micro-batches held
    loaded = keras.saving.load_model(tmp_path / "model.keras")
    for a, b in zip(loaded.optimizer.variables, optimizer.variables):
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(a), keras.ops.convert_to_numpy(b))


def test_a_wrapper_around_it_is_an_error():
    optimizer = TrustRatio(GradientAccumulation(keras.optimizers.SGD(0.1), steps=2))
    variable = make_variable(np.ones(3), "layer/v")
    with pytest.raises(RuntimeError, match="outermost"):
        apply(optimizer, [variable], [np.ones(3, np.float32)])


def test_piecewise_constant_steps():
    steps = PiecewiseConstantSteps(boundaries=[2, 5], values=[2, 4, 8])
    assert [int(keras.ops.convert_to_numpy(steps(t))) for t in range(7)] == [2, 2, 4, 4, 4, 8, 8]
    assert int(keras.ops.convert_to_numpy(PiecewiseConstantSteps([], [3])(10))) == 3


@pytest.mark.parametrize(
    "steps", [3, PiecewiseConstantSteps([10, 20], [1, 2, 4])], ids=["int", "schedule"]
)
def test_config_round_trip(steps):
    optimizer = GradientAccumulation(keras.optimizers.SGD(0.1, momentum=0.9), steps=steps)
    restored = keras.optimizers.deserialize(keras.optimizers.serialize(optimizer))
    assert type(restored) is GradientAccumulation
    assert restored.get_config() == optimizer.get_config()
    assert type(restored.steps) is type(steps)


def test_registry():
    optimizer = optimizers.get("gradient_accumulation", optimizer="momentum", steps=4)
    assert isinstance(optimizer, GradientAccumulation) and optimizer.steps == 4
    assert optimizer.inner_optimizer.momentum == 0.9


@pytest.mark.parametrize(
    "make, error",
    [
        (lambda: GradientAccumulation(keras.optimizers.SGD(), steps=0), ValueError),
        (lambda: GradientAccumulation(keras.optimizers.SGD(), steps=2.5), TypeError),
        (lambda: PiecewiseConstantSteps([2, 1], [1, 2, 3]), ValueError),
        (lambda: PiecewiseConstantSteps([2], [1]), ValueError),
        (lambda: PiecewiseConstantSteps([2], [1, 0]), ValueError),
    ],
)
def test_bad_arguments(make, error):
    with pytest.raises(error):
        make()
