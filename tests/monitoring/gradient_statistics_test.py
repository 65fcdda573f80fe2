"""GradientStatistics against exact values: a linear model whose per-example gradients
NumPy computes, with the weights held fixed (learning rate 0).

Loss: mean over the batch of (x.w - y)^2, so one example's gradient is
g_i = 2 (x_i.w - y_i) x_i. Over the whole data set, G = mean_i g_i and
tr(Sigma) = mean_i |g_i - G|^2 (the population covariance); batches are drawn with
replacement, so the estimators' assumptions hold exactly. n = 4 small gradients of
b = 16 examples per update: 4 micro-batches on one device, or 2 replicas x 2.
"""

import keras
import numpy as np
import pytest

from lbkeras.monitoring import GradientStatistics, noise_scale
from lbkeras.optimizers import GradientAccumulation

SMALL_BATCH = 16
UPDATES = 600


def _problem(seed=0, size=4096, dims=5):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(size, dims)).astype("float32") * np.arange(1, dims + 1, dtype="float32")
    w_true = rng.normal(size=(dims, 1)).astype("float32")
    y = (x @ w_true + 2.0 * rng.normal(size=(size, 1))).astype("float32")
    w = (w_true + 0.3 * rng.normal(size=(dims, 1))).astype("float32")  # held fixed
    per_example = 2.0 * (x @ w - y) * x  # (size, dims)
    g = per_example.mean(axis=0)
    trace = float(((per_example - g) ** 2).sum(axis=1).mean())
    exact = {"grad_norm_sq": float(g @ g), "trace_sigma": trace}
    exact["b_simple"] = trace / exact["grad_norm_sq"]
    draws = rng.integers(0, size, size=UPDATES * 4 * SMALL_BATCH)
    return x[draws], y[draws], w, exact


def _fit(x, y, w, micro_batches, global_batch):
    model = keras.Sequential([keras.Input((x.shape[1],)), keras.layers.Dense(1, use_bias=False)])
    model.layers[0].kernel.assign(w)
    statistics = GradientStatistics(
        keras.optimizers.SGD(0.0), every_steps=1, ema_decay=0.995, capacity=UPDATES
    )
    model.compile(GradientAccumulation(statistics, micro_batches), "mse")
    model.fit(x, y, batch_size=global_batch, epochs=1, shuffle=False, verbose=0)
    np.testing.assert_array_equal(model.layers[0].kernel.numpy(), w)  # weights held fixed
    return statistics


def _check(statistics, exact):
    rows = statistics.rows()
    assert len(rows) == UPDATES and all(row["n"] == 4 for row in rows)
    single = np.array(
        [
            [float(v) for v in noise_scale.unbiased_estimates(r["local"], r["total"], r["n"])]
            for r in rows
        ]
    )
    single[:, 1] *= SMALL_BATCH  # tr(Sigma) / b -> tr(Sigma)
    # Unbiased: the mean of 600 single-step estimates lies within 4 standard errors of
    # the exact value (|G|^2 alone is often negative in one step).
    for column, key in enumerate(("grad_norm_sq", "trace_sigma")):
        mean = single[:, column].mean()
        error = single[:, column].std() / np.sqrt(len(single))
        assert abs(mean - exact[key]) < 4 * error, (key, mean, exact[key], error)
        assert abs(mean - exact[key]) < 0.1 * exact[key], (key, mean, exact[key])
    # Smoothed (EMA 0.995, about the last 200 steps), then divided: within 15%.
    smoothed = statistics.noise_scale(SMALL_BATCH)
    for key in ("grad_norm_sq", "trace_sigma", "b_simple"):
        np.testing.assert_allclose(smoothed[key], exact[key], rtol=0.15, err_msg=key)


def test_one_device_with_micro_batches_matches_the_exact_values():
    x, y, w, exact = _problem()
    assert 2 < exact["b_simple"] < 1000  # neither regime is trivial
    _check(_fit(x, y, w, micro_batches=4, global_batch=SMALL_BATCH), exact)


def test_noise_free_gradients_have_zero_noise_scale():
    x, _, w, _ = _problem()
    y = x @ (w + 1.0)  # no label noise, and every example's residual is x.(-1)
    statistics = _fit(x, y.astype("float32"), w, micro_batches=4, global_batch=SMALL_BATCH)
    rows = statistics.rows()
    assert all(row["local"] >= row["total"] for row in rows)  # Jensen: mean |g_i|^2 >= |mean|^2


def test_a_single_gradient_per_update_gives_no_estimate():
    x, y, w, _ = _problem()
    model = keras.Sequential([keras.Input((x.shape[1],)), keras.layers.Dense(1, use_bias=False)])
    statistics = GradientStatistics(keras.optimizers.SGD(0.0), every_steps=10)
    model.compile(statistics, "mse")
    model.fit(x[:640], y[:640], batch_size=64, verbose=0)
    assert np.isnan(statistics.noise_scale(64)["b_simple"])
    assert [row["n"] for row in statistics.rows()] == [1.0]  # norms are still measured


def test_the_training_result_is_unchanged():
    x, y, w, _ = _problem()

    def trained(wrap):
        keras.utils.set_random_seed(0)
        model = keras.Sequential([keras.Input((5,)), keras.layers.Dense(3), keras.layers.Dense(1)])
        optimizer = keras.optimizers.SGD(0.001, momentum=0.9)
        model.compile(GradientAccumulation(wrap(optimizer), 2), "mse")
        model.fit(x[:1024], y[:1024], batch_size=32, shuffle=False, verbose=0)
        return [v.numpy() for v in model.weights]

    for a, b in zip(trained(lambda o: o), trained(lambda o: GradientStatistics(o, every_steps=3))):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("every_steps, updates", [(3, 10)])
def test_rows_every_n_updates_and_the_ring_buffer(every_steps, updates):
    x, y, w, _ = _problem()
    model = keras.Sequential([keras.Input((5,)), keras.layers.Dense(1, use_bias=False)])
    statistics = GradientStatistics(keras.optimizers.SGD(0.01), every_steps=every_steps, capacity=2)
    model.compile(statistics, "mse")
    model.fit(x[: updates * 8], y[: updates * 8], batch_size=8, verbose=0)
    assert statistics.rows_written == 4  # updates 0, 3, 6, 9
    assert [row["step"] for row in statistics.rows()] == [6.0, 9.0]  # the newest 2 kept
    restored = keras.optimizers.deserialize(keras.optimizers.serialize(statistics))
    assert (restored.every_steps, restored.capacity) == (every_steps, 2)
