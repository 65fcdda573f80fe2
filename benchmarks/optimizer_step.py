"""Step time of lbkeras's optimizers and wrappers against the plain Keras optimizers.

What is measured: the steady-state wall time of one compiled training step (forward,
loss, gradients, optimizer update) inside ``model.fit``, on one fixed in-memory batch
repeated, for two models:

* ``cnn``: a small ResNet-style CNN (Conv2D + BatchNormalization + ReLU residual blocks,
  16/32/64 filters), 32x32x3 inputs, 10 classes, batch 64;
* ``mlp``: 8 Dense layers of width 512 on 784 inputs, 10 classes, batch 256;

each with these optimizers, the model rebuilt from the same seed for each:

* ``sgd_momentum``: ``keras.optimizers.SGD(0.1, momentum=0.9)``, the baseline for LARS;
* ``lars``: ``lbkeras.optimizers.LARS(0.1, momentum=0.9, weight_decay=1e-4)``;
* ``keras_lamb``: ``keras.optimizers.Lamb(1e-3)``, the baseline for LAMB;
* ``lamb``: ``lbkeras.optimizers.LAMB(1e-3, weight_decay=0.01)``;
* ``trust_ratio``, ``gradient_noise``, ``lookahead``, ``agc``: each lbkeras wrapper around
  the same SGD with momentum, compared with ``sgd_momentum`` (target <= 1.10x for the
  first three).

Each model is first compiled and warmed up by a short ``fit`` (tracing, compiling;
its wall time is shown as "warm-up fit s"). Then come ``--rounds`` rounds; in each,
every optimizer runs one ``fit`` of ``--steps`` steps (by default as many as take about
``--round_seconds``, judged from a probe fit), each optimizer next to its baseline and
the two taking turns to go first (ABBA), so that load drifting on a shared machine
hits both alike. A fit's time per step runs from the end of its first step to the end
of its last (when their losses can be read), so neither the data iterator's start-up
nor ``fit``'s own set-up and wrap-up count, and asynchronous dispatch (JAX) cannot
hide unfinished steps. The table
gives each optimizer's median over rounds, the ratios of those medians against the
targets (LARS <= 1.15x SGD-momentum, LAMB <= 1.05x Keras Lamb), and, as a check on
noise, the median and range of the ratios within rounds; where these disagree the
machine was too busy for the medians to mean much.

Compilation follows Keras's ``jit_compile="auto"`` (XLA on JAX and on TensorFlow with a
GPU; plain graph mode on TensorFlow on CPU) unless ``--jit_compile`` says otherwise.
Only Keras APIs are used, never TensorFlow, so that the script also runs with
``KERAS_BACKEND=jax`` (or ``--backend=jax``) on GPU machines without TensorFlow.

Run from the repository root:

    python benchmarks/optimizer_step.py                   # TensorFlow; ~3-5 min on 2 CPU cores
    KERAS_BACKEND=jax python benchmarks/optimizer_step.py --quick   # 3 short rounds
    python benchmarks/optimizer_step.py --backend=jax --models=mlp --rounds=15 --steps=100
    python benchmarks/optimizer_step.py --json_out=/tmp/optimizer_step.json
    python benchmarks/optimizer_step.py --models=mlp --batch_size=2048   # a larger batch
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import time
from collections.abc import Callable

import numpy as np
from absl import app, flags

# Keras reads its backend when imported, before absl parses flags: --backend=NAME here.
os.environ["KERAS_BACKEND"] = next(
    (arg.split("=", 1)[1] for arg in sys.argv if arg.startswith("--backend=")),
    os.environ.get("KERAS_BACKEND", "tensorflow"),
)
# Runs from a checkout without installing lbkeras.
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import keras

import lbkeras

FLAGS = flags.FLAGS
flags.DEFINE_string(
    "backend", os.environ["KERAS_BACKEND"], "Keras backend (default: $KERAS_BACKEND)."
)
flags.DEFINE_list("models", ["cnn", "mlp"], "Models to time: cnn, mlp.")
flags.DEFINE_integer(
    "steps", 0, "Fit steps per optimizer per round; 0: enough for about --round_seconds."
)
flags.DEFINE_float("round_seconds", 1.0, "With --steps=0, the target length of one timed fit.")
flags.DEFINE_integer(
    "rounds", 9, "Round-robin rounds; the table reports medians over them.", lower_bound=1
)
flags.DEFINE_integer(
    "warmup_steps", 2, "Steps of the first, untimed fit (tracing, compiling).", lower_bound=1
)
flags.DEFINE_bool(
    "quick", False, "Fast mode: 3 rounds, --round_seconds=0.2, 1 warm-up step, unless given."
)
flags.DEFINE_enum("jit_compile", "auto", ["auto", "true", "false"], "model.compile jit_compile.")
flags.DEFINE_integer(
    "batch_size",
    0,
    "Batch size for every model; 0: each model's own (cnn 64, mlp 256).",
    lower_bound=0,
)
flags.DEFINE_integer("seed", 0, "Seed for the weights and the batch.")
flags.DEFINE_string("json_out", None, "Also write the results as JSON to this path.")

MAX_AUTO_STEPS = 250
MAX_TILED_BYTES = 200e6  # with --steps=0, caps the tiled batches at about 200 MB
TARGETS = {
    ("lars", "sgd_momentum"): 1.15,
    ("lamb", "keras_lamb"): 1.05,
    # Each wrapper against the optimizer it wraps.
    ("trust_ratio", "sgd_momentum"): 1.10,
    ("gradient_noise", "sgd_momentum"): 1.10,
    ("lookahead", "sgd_momentum"): 1.10,
    ("agc", "sgd_momentum"): None,  # no target set: reported only
}


def _sgd() -> keras.optimizers.Optimizer:
    return keras.optimizers.SGD(learning_rate=0.1, momentum=0.9)


OPTIMIZERS: dict[str, Callable[[], keras.optimizers.Optimizer]] = {
    "sgd_momentum": lambda: keras.optimizers.SGD(learning_rate=0.1, momentum=0.9),
    "lars": lambda: lbkeras.optimizers.LARS(learning_rate=0.1, momentum=0.9, weight_decay=1e-4),
    "keras_lamb": lambda: keras.optimizers.Lamb(learning_rate=1e-3),
    "lamb": lambda: lbkeras.optimizers.LAMB(learning_rate=1e-3, weight_decay=0.01),
    "trust_ratio": lambda: lbkeras.optimizers.TrustRatio(_sgd(), trust_coefficient=0.001),
    "gradient_noise": lambda: lbkeras.optimizers.GradientNoise(_sgd(), eta=0.01, seed=0),
    "lookahead": lambda: lbkeras.optimizers.Lookahead(_sgd()),
    "agc": lambda: lbkeras.optimizers.AdaptiveGradientClipping(_sgd(), clipping=0.01),
}


def conv_bn_relu(x, filters: int, strides: int = 1, relu: bool = True, kernel_size: int = 3):
    x = keras.layers.Conv2D(filters, kernel_size, strides, padding="same", use_bias=False)(x)
    x = keras.layers.BatchNormalization()(x)
    return keras.layers.ReLU()(x) if relu else x


def residual_block(x, filters: int, strides: int):
    shortcut = x
    if strides != 1 or x.shape[-1] != filters:
        shortcut = conv_bn_relu(x, filters, strides, relu=False, kernel_size=1)
    x = conv_bn_relu(x, filters, strides)
    x = conv_bn_relu(x, filters, relu=False)
    return keras.layers.ReLU()(keras.layers.Add()([x, shortcut]))


def resnet_cnn() -> keras.Model:
    inputs = keras.Input((32, 32, 3))
    x = conv_bn_relu(inputs, 16)
    for filters, strides in ((16, 1), (32, 2), (64, 2)):
        x = residual_block(x, filters, strides)
    x = keras.layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, keras.layers.Dense(10)(x), name="resnet_cnn")


def deep_mlp() -> keras.Model:
    inputs = keras.Input((784,))
    x = inputs
    for _ in range(8):
        x = keras.layers.Dense(512, activation="relu")(x)
    return keras.Model(inputs, keras.layers.Dense(10)(x), name="deep_mlp")


MODELS: dict[str, tuple[Callable[[], keras.Model], int]] = {
    "cnn": (resnet_cnn, 64),
    "mlp": (deep_mlp, 256),
}


class StepClock(keras.callbacks.Callback):
    """Notes when each step of a ``fit`` has finished, i.e. its loss could be read.

    Keras calls ``on_train_batch_end`` with the logs already converted to Python
    numbers, so the step is complete; with JAX it does so in a worker thread
    (``async_safe`` keeps that), so the training loop still dispatches ahead freely.
    """

    async_safe = True

    def __init__(self) -> None:
        super().__init__()
        self.finished: dict[int, float] = {}

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        self.finished[batch] = time.perf_counter()


def repeated_batch(model: keras.Model, batch_size: int, steps: int) -> tuple[np.ndarray, ...]:
    """One random batch, tiled ``steps`` times, so that every step sees the same data."""
    rng = np.random.default_rng(FLAGS.seed)
    x = rng.standard_normal((batch_size, *model.input_shape[1:]), dtype=np.float32)
    y = rng.integers(0, model.output_shape[-1], size=(batch_size,))
    return np.tile(x, (steps,) + (1,) * (x.ndim - 1)), np.tile(y, steps)


def timed_fit(model: keras.Model, data: tuple[np.ndarray, ...], batch_size: int) -> float:
    """Milliseconds per step of one ``fit`` over ``data``, from the end of its first step
    (which also starts the data iterator) to the end of its last."""
    clock = StepClock()
    model.fit(*data, batch_size=batch_size, shuffle=False, verbose=0, callbacks=[clock])
    last = max(clock.finished)
    return 1e3 * (clock.finished[last] - clock.finished[0]) / last


def batch_size_of(name: str) -> int:
    """``--batch_size`` if given, else the model's own."""
    return FLAGS.batch_size or MODELS[name][1]


def compiled_models(name: str, warmup_steps: int) -> tuple[dict[str, keras.Model], dict]:
    """The model built from the same seed for each optimizer, compiled, warmed up."""
    build, batch_size = MODELS[name][0], batch_size_of(name)
    jit_compile = {"auto": "auto", "true": True, "false": False}[FLAGS.jit_compile]
    models, warmup_s = {}, {}
    for opt_name, make_optimizer in OPTIMIZERS.items():
        keras.utils.set_random_seed(FLAGS.seed)
        model = build()
        model.compile(
            optimizer=make_optimizer(),
            loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
            jit_compile=jit_compile,
        )
        data = repeated_batch(model, batch_size, warmup_steps)
        start = time.perf_counter()
        model.fit(*data, batch_size=batch_size, shuffle=False, verbose=0)
        warmup_s[opt_name] = time.perf_counter() - start
        models[opt_name] = model
    return models, warmup_s


def round_order(r: int) -> list[str]:
    """The optimizers' order in round ``r``: pairs adjacent, who goes first alternating.

    A baseline shared by several pairs runs once per round, at its first pair.
    """
    pairs = list(TARGETS) if r % 2 == 0 else list(reversed(TARGETS))
    order = [name for pair in pairs for name in (pair if r // 2 % 2 == 0 else pair[::-1])]
    return list(dict.fromkeys(order))


def benchmark_model(name: str, steps: int, rounds: int, round_seconds: float) -> dict:
    batch_size = batch_size_of(name)
    models, warmup_s = compiled_models(name, FLAGS.warmup_steps)
    first = models["sgd_momentum"]
    if not steps:  # enough steps for about round_seconds, judged from a short fit
        probe_ms = timed_fit(first, repeated_batch(first, batch_size, 3), batch_size)
        x = repeated_batch(first, batch_size, 1)[0]
        max_steps = min(MAX_AUTO_STEPS, int(MAX_TILED_BYTES // x.nbytes))
        steps = 1 + min(max_steps, max(3, round(1e3 * round_seconds / probe_ms)))
    data = repeated_batch(first, batch_size, steps)

    times: dict[str, list[float]] = {opt_name: [] for opt_name in models}
    for r in range(rounds):
        for opt_name in round_order(r):
            times[opt_name].append(timed_fit(models[opt_name], data, batch_size))

    median_ms = {opt_name: statistics.median(ms) for opt_name, ms in times.items()}
    ratios = {}
    for (new, base), target in TARGETS.items():
        ratio = median_ms[new] / median_ms[base]
        per_round = [n / b for n, b in zip(times[new], times[base])]
        ratios[f"{new}/{base}"] = {
            "ratio": ratio,
            "target": target,
            "pass": None if target is None else ratio <= target,
            "per_round": per_round,
            "median_per_round": statistics.median(per_round),
        }
    return {
        "batch_size": batch_size,
        "params": first.count_params(),
        "jit_compile": first.jit_compile,
        "steps": steps,
        "rounds": rounds,
        "warmup_fit_s": warmup_s,
        "step_ms": times,
        "median_step_ms": median_ms,
        "ratios": ratios,
    }


def device_description() -> str:
    devices = keras.distribution.list_devices()
    if keras.backend.backend() == "jax":
        import jax

        kinds = sorted({d.device_kind for d in jax.devices()})
        return f"{', '.join(devices)} ({', '.join(kinds)})"
    return ", ".join(devices)


def print_table(name: str, result: dict) -> None:
    print(
        f"\n{name}: batch {result['batch_size']}, {result['params']:,} parameters, "
        f"jit_compile={result['jit_compile']}, {result['rounds']} rounds x {result['steps']} steps"
    )
    print(f"  {'optimizer':<14}{'median ms/step':>15}{'min..max':>18}{'warm-up fit s':>15}")
    for opt_name, median in result["median_step_ms"].items():
        ms = result["step_ms"][opt_name]
        spread = f"{min(ms):.2f}..{max(ms):.2f}"
        print(
            f"  {opt_name:<14}{median:>15.2f}{spread:>18}{result['warmup_fit_s'][opt_name]:>15.1f}"
        )
    for label, r in result["ratios"].items():
        verdict = {True: "PASS", False: "MISS", None: ""}[r["pass"]]
        target = "no target   " if r["target"] is None else f"target <= {r['target']:.2f}x"
        print(
            f"  {label:<28}{r['ratio']:6.3f}x  {target}  {verdict}"
            f"   (per round: median {r['median_per_round']:.3f}x, "
            f"{min(r['per_round']):.3f}..{max(r['per_round']):.3f})"
        )


def main(argv: list[str]) -> None:
    del argv
    if FLAGS.backend != keras.backend.backend():
        raise app.UsageError(
            f"Keras loaded backend {keras.backend.backend()!r}, not {FLAGS.backend!r}: "
            "write --backend=NAME (with '=') or set KERAS_BACKEND"
        )
    unknown = set(FLAGS.models) - set(MODELS)
    if unknown:
        raise app.UsageError(f"unknown --models {sorted(unknown)}; choose from {list(MODELS)}")
    if FLAGS.steps == 1 or FLAGS.steps < 0:
        raise app.UsageError(f"--steps must be 0 (auto) or at least 2, got {FLAGS.steps}")
    if FLAGS.quick:  # quick defaults, where not given explicitly
        for flag, value in (("rounds", 3), ("round_seconds", 0.2), ("warmup_steps", 1)):
            if not FLAGS[flag].present:
                FLAGS[flag].value = value

    header = {
        "backend": keras.backend.backend(),
        "keras": keras.__version__,
        "device": device_description(),
        "cpu_count": os.cpu_count(),
        "quick": FLAGS.quick,
    }
    print(", ".join(f"{k}={v}" for k, v in header.items()))
    results = {}
    for name in FLAGS.models:
        results[name] = benchmark_model(name, FLAGS.steps, FLAGS.rounds, FLAGS.round_seconds)
        print_table(name, results[name])
    if FLAGS.json_out:
        with open(FLAGS.json_out, "w") as f:
            json.dump({**header, "models": results}, f, indent=2)
        print(f"\nwrote {FLAGS.json_out}")


if __name__ == "__main__":
    app.run(main)
