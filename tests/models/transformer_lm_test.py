"""Tests for lbkeras.models.transformer_lm: a NumPy forward pass, the causal mask, dtypes,
exclusions by variable path, MirroredStrategy, and save/load in a new process."""

from __future__ import annotations

import math

import keras
import numpy as np
import pytest

from lbkeras import layers, models, optimizers
from lbkeras.models import transformer_lm
from tests.optimizers.continue_training import continue_in_new_process

CONTEXT, VOCABULARY = 8, 256
TINY = {"num_layers": 2, "width": 16, "num_heads": 2}
_erf = np.vectorize(math.erf)


def _tiny(**options) -> keras.Model:
    keras.utils.set_random_seed(0)
    return transformer_lm(input_shape=(CONTEXT,), num_classes=VOCABULARY, **{**TINY, **options})


def _tokens(batch: int = 3, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, VOCABULARY, (batch, CONTEXT), dtype="int32")


def _randomize(model: keras.Model, seed: int = 1) -> None:
    """Every weight random (norm offsets and biases too: zeros would hide mistakes)."""
    rng = np.random.default_rng(seed)
    for variable in model.weights:
        variable.assign(rng.normal(0, 0.3, variable.shape).astype("float32"))


# --- an independent NumPy forward pass ---------------------------------------


def _norm(x, gamma, beta, epsilon=1e-5):
    mean = x.mean(-1, keepdims=True)
    return (x - mean) / np.sqrt(x.var(-1, keepdims=True) + epsilon) * gamma + beta


def _rope(x):  # (batch, seq, heads, d): pairs (i, i + d/2) turned by t * 10000^(-2i/d)
    d = x.shape[-1]
    angle = np.arange(x.shape[1])[:, None] * 10_000.0 ** (-np.arange(d // 2) * 2.0 / d)
    cos, sin = np.cos(angle)[None, :, None], np.sin(angle)[None, :, None]
    a, b = x[..., : d // 2], x[..., d // 2 :]
    return np.concatenate([a * cos - b * sin, b * cos + a * sin], -1)


def _attention(x, weights, heads, rotary):
    qkv_kernel, qkv_bias, out_kernel, out_bias = weights
    batch, seq, width = x.shape
    qkv = (x @ qkv_kernel + qkv_bias).reshape(batch, seq, 3, heads, width // heads)
    q, k, v = qkv[:, :, 0], qkv[:, :, 1], qkv[:, :, 2]
    if rotary:
        q, k = _rope(q), _rope(k)
    scores = np.einsum("bqhd,bkhd->bhqk", q, k) / math.sqrt(width // heads)
    scores = np.where(np.tril(np.ones((seq, seq), bool)), scores, -np.inf)
    probabilities = np.exp(scores - scores.max(-1, keepdims=True))
    probabilities /= probabilities.sum(-1, keepdims=True)
    heads_out = np.einsum("bhqk,bkhd->bqhd", probabilities, v).reshape(batch, seq, width)
    return heads_out @ out_kernel + out_bias


def numpy_logits(model: keras.Model, tokens: np.ndarray, rotary: bool, tied: bool) -> np.ndarray:
    """The model's logits computed from its weights with NumPy alone (float64)."""

    def w(name):
        return [np.asarray(v, np.float64) for v in model.get_layer(name).get_weights()]

    embedding = w("token_embedding")[0]
    h = embedding[tokens]
    if not rotary:
        h = h + w("position_embedding")[0][None, : tokens.shape[1]]
    for i in range(TINY["num_layers"]):
        a = _norm(h, *w(f"block{i}_attention_norm"))
        h = h + _attention(a, w(f"block{i}_attention"), TINY["num_heads"], rotary)
        m = _norm(h, *w(f"block{i}_mlp_norm"))
        kernel, bias = w(f"block{i}_mlp_in")
        m = m @ kernel + bias
        m = 0.5 * m * (1 + _erf(m / math.sqrt(2)))
        kernel, bias = w(f"block{i}_mlp_out")
        h = h + m @ kernel + bias
    h = _norm(h, *w("final_norm"))
    if tied:
        return h @ embedding.T
    kernel, bias = w("logits")
    return h @ kernel + bias


@pytest.mark.parametrize("positions", ["learned", "rotary"])
@pytest.mark.parametrize("tie_embeddings", [True, False])
def test_logits_and_loss_match_numpy(positions, tie_embeddings):
    model = _tiny(positions=positions, tie_embeddings=tie_embeddings)
    _randomize(model)
    tokens = _tokens()
    logits = np.asarray(model(tokens))
    expected = numpy_logits(model, tokens, positions == "rotary", tie_embeddings)
    assert logits.shape == (3, CONTEXT, VOCABULARY) and logits.dtype == np.float32
    np.testing.assert_allclose(logits, expected, rtol=2e-4, atol=2e-4)
    # The trainer's loss: next-token cross-entropy, the mean over every position.
    targets = _tokens(seed=1)
    shifted = expected - expected.max(-1, keepdims=True)
    log_softmax = shifted - np.log(np.exp(shifted).sum(-1, keepdims=True))
    reference = -np.take_along_axis(log_softmax, targets[..., None], -1).mean()
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)(targets, logits)
    np.testing.assert_allclose(float(loss), reference, rtol=1e-5)


@pytest.mark.parametrize("positions", ["learned", "rotary"])
def test_a_tokens_logits_do_not_depend_on_later_tokens(positions):
    model = _tiny(positions=positions)
    _randomize(model)
    tokens = _tokens(batch=1)
    before = np.asarray(model(tokens))
    for t in range(CONTEXT):
        changed = tokens.copy()
        changed[:, t:] = (changed[:, t:] + 1 + np.arange(CONTEXT - t)) % VOCABULARY
        after = np.asarray(model(changed))
        np.testing.assert_array_equal(after[:, :t], before[:, :t])
        # ...and they do depend on the token itself and the ones before it.
        assert np.abs(after[:, t:] - before[:, t:]).max(-1).min() > 1e-3


def test_sizes_names_and_parameter_count():
    model = _tiny(positions="learned", tie_embeddings=False)
    assert model.name == "transformer_lm" and model.input.dtype == "int32"
    width, hidden = TINY["width"], 4 * TINY["width"]
    block = 2 * (2 * width) + (width * 3 * width + 3 * width) + (width * width + width)
    block += width * hidden + hidden + hidden * width + width
    expected = VOCABULARY * width + CONTEXT * width + 2 * block + 2 * width
    assert model.count_params() == expected + width * VOCABULARY + VOCABULARY
    tied = _tiny(positions="rotary")
    assert tied.count_params() == expected - CONTEXT * width
    assert not [layer for layer in tied.layers if isinstance(layer, layers.PositionEmbedding)]


def test_logits_are_float32_under_mixed_precision():
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        for tie in (True, False):
            model = _tiny(tie_embeddings=tie)
            assert model.get_layer("block0_attention").compute_dtype == "float16"
            assert model.output.dtype == "float32"
            assert np.asarray(model(_tokens())).dtype == np.float32
    finally:
        keras.mixed_precision.set_global_policy("float32")


def test_exclusions_find_the_norms_and_biases_by_path():
    model = _tiny()
    _randomize(model)
    by_pattern = {v.path for v in model.trainable_variables if "norm" in v.path or "bias" in v.path}
    one_dimensional = {v.path for v in model.trainable_variables if len(v.shape) == 1}
    assert by_pattern == one_dimensional and len(by_pattern) == 4 * 2 * 2 + 2
    before = {v.path: np.asarray(v) for v in model.trainable_variables}
    # Zero gradients: only weight decay moves a variable; LAMB's trust ratio makes the
    # step lr * w (|w| / |wd w| times wd w), so a decayed variable becomes (1 - lr) w.
    lamb = optimizers.LAMB(0.1, weight_decay=0.5, exclude_from_weight_decay=["norm", "bias"])
    lamb.apply_gradients([(keras.ops.zeros(v.shape), v) for v in model.trainable_variables])
    for variable in model.trainable_variables:
        expected = before[variable.path] * (1.0 if variable.path in by_pattern else 0.9)
        np.testing.assert_allclose(np.asarray(variable), expected, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize(
    "options, message",
    [
        ({"num_heads": 3}, "must split into num_heads=3"),
        ({"width": 6, "num_heads": 2, "positions": "rotary"}, "even width"),
        ({"positions": "sinusoidal"}, "positions='sinusoidal'"),
        ({"num_layers": 0}, "num_layers must be an integer > 0"),
        ({"input_shape": (8, 2)}, "rank 1"),
    ],
)
def test_bad_options(options, message):
    arguments = {"input_shape": (CONTEXT,), "num_classes": VOCABULARY, **TINY, **options}
    with pytest.raises(ValueError, match=message):
        transformer_lm(**arguments)


def _compiled(strategy=None):
    import tensorflow as tf

    with (strategy or tf.distribute.get_strategy()).scope():
        model = models.get(
            "transformer_lm",
            input_shape=(CONTEXT,),
            num_classes=VOCABULARY,
            positions="rotary",
            **TINY,
        )
        model.compile(
            optimizer=optimizers.LAMB(1e-2, weight_decay=0.01, exclude_1d_variables=True),
            loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        )
    return model


def test_mirrored_strategy_trains_as_one_device(mirrored_strategy):
    tokens, targets = _tokens(batch=8), _tokens(batch=8, seed=1)
    results = []
    for strategy in (None, mirrored_strategy):
        keras.utils.set_random_seed(0)
        model = _compiled(strategy)
        model.fit(tokens, targets, batch_size=8, epochs=2, shuffle=False, verbose=0)
        results.append([np.asarray(v) for v in model.weights])
    for one_device, mirrored in zip(*results):
        np.testing.assert_allclose(mirrored, one_device, rtol=1e-4, atol=1e-6)


def test_save_load_in_a_new_process_continues_identically(tmp_path):
    tokens, targets = _tokens(batch=64), _tokens(batch=64, seed=1)
    keras.utils.set_random_seed(0)
    model = _compiled()
    model.fit(tokens, targets, batch_size=64, epochs=1, shuffle=False, verbose=0)
    model.save(tmp_path / "lm.keras")
    model.fit(tokens, targets, batch_size=64, epochs=1, shuffle=False, verbose=0)
    np.savez(tmp_path / "data.npz", x=tokens, y=targets)
    [out] = continue_in_new_process(
        [(tmp_path / "lm.keras", tmp_path / "data.npz", 1, tmp_path / "out.npz")]
    )
    assert str(out["optimizer_class"]) == "LAMB" and int(out["loaded_iterations"]) == 1
    for i, variable in enumerate(model.weights):
        np.testing.assert_allclose(out[f"weight_{i}"], np.asarray(variable), rtol=1e-6, atol=1e-7)
