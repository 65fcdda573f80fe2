"""lbkeras-train: train a model at a large global batch from the command line.

Every flag maps to one field of :class:`lbkeras.training.ExperimentConfig`; configs
are absl flagfiles (``--flagfile=configs/NAME.cfg``), overridable by later flags.
With no flags it trains the default experiment: MNIST-1D at global batch 2048 with
LARS, about a minute on a 2-core CPU.

    lbkeras-train --model_dir=/tmp/run1
    lbkeras-train --flagfile=configs/goyal_resnet50_imagenet_8k.cfg --data_dir=... --model_dir=...

Bad input (an unknown name, an impossible batch split, missing data) prints one line
naming the problem and exits with status 2; a NaN loss exits with status 3.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import tempfile

from absl import app, flags

FLAGS = flags.FLAGS

flags.DEFINE_string("model", "mnist1d_cnn", "Model name (lbkeras.models.names()).")
flags.DEFINE_string("dataset", "mnist1d", "Dataset name (lbkeras.data.names(), or tfds:NAME).")
flags.DEFINE_integer("global_batch_size", 2048, "Examples per step, summed over all replicas.")
flags.DEFINE_float("base_learning_rate", 1.0, "Learning rate tuned at --base_batch_size.")
flags.DEFINE_integer("base_batch_size", 256, "Batch size --base_learning_rate was tuned for.")
flags.DEFINE_enum(
    "lr_scaling",
    "linear",
    ["linear", "sqrt", "none", "auto"],
    "How the learning rate grows with the batch (auto: sqrt for adaptive "
    "optimizers, linear otherwise).",
)
flags.DEFINE_string("optimizer", "lars", "Optimizer name (lbkeras.optimizers.names()).")
flags.DEFINE_float("momentum", 0.9, "Momentum of momentum optimizers (LARS, SGD, Nesterov).")
flags.DEFINE_float(
    "weight_decay", 1e-3, "Weight decay: coupled for LARS/LAMB, decoupled (Keras) for the others."
)
flags.DEFINE_string(
    "schedule",
    "polynomial",
    "Decay after warmup: polynomial, linear, cosine, step, rsqrt, constant.",
)
flags.DEFINE_float("schedule_power", 2.0, "Power of the polynomial decay (LARS: 2).")
flags.DEFINE_list("decay_epochs", [], "Epochs of the step decay, e.g. 30,60,80 (Goyal et al.).")
flags.DEFINE_float("decay_rate", 0.1, "Factor of the step decay at each boundary.")
flags.DEFINE_float("end_learning_rate", 0.0, "Learning rate at the end of the decay.")
flags.DEFINE_float("warmup_epochs", 5.0, "Epochs of warmup before the decay.")
flags.DEFINE_enum(
    "warmup_kind",
    "linear",
    ["linear", "constant", "polynomial"],
    "Warmup shape (Goyal et al.: linear, 'gradual').",
)
flags.DEFINE_float("warmup_initial_learning_rate", 0.0, "Learning rate at step 0.")
flags.DEFINE_float("epochs", 25.0, "Training length in epochs (ignored with --train_steps).")
flags.DEFINE_integer("train_steps", 0, "Training length in steps; 0 means use --epochs.")
flags.DEFINE_float("label_smoothing", 0.0, "Label smoothing of the cross-entropy.")
flags.DEFINE_integer(
    "accumulation_steps",
    1,
    "Accumulate gradients over this many micro-batches of --global_batch_size per update "
    "(the learning-rate rule uses the effective batch); 1: off.",
)
flags.DEFINE_float(
    "sam_rho", 0.0, "Sharpness-aware minimisation radius (Foret et al.: 0.05); 0: off."
)
flags.DEFINE_integer(
    "ghost_batch_size",
    0,
    "Ghost batch norm: batch statistics over virtual batches of this size (Hoffer et al.: "
    "128); 0: off.",
)
flags.DEFINE_float(
    "trust_ratio",
    0.0,
    "Wrap the optimizer in TrustRatio with this trust "
    "coefficient (layer-wise adaptation around any optimizer); 0: off.",
)
flags.DEFINE_enum(
    "trust_ratio_scale",
    "update",
    ["update", "gradient"],
    "Where --trust_ratio acts: on the optimizer's step (as LAMB) or on the gradient it sees "
    "(as LARS: around momentum it is LARS).",
)
flags.DEFINE_float(
    "gradient_noise_eta",
    0.0,
    "Annealed Gaussian gradient noise eta (Neelakantan et al.: 0.01, 0.3 or 1.0); 0: off.",
)
flags.DEFINE_float(
    "agc", 0.0, "Adaptive gradient clipping threshold (Brock et al.: 0.01 to 0.16); 0: off."
)
flags.DEFINE_integer(
    "lookahead",
    0,
    "Wrap the optimizer in Lookahead with this sync period (Zhang et al.: 6); 0: off.",
)
flags.DEFINE_enum(
    "strategy",
    "default",
    ["default", "one_device", "mirrored", "multi_worker", "tpu"],
    "tf.distribute strategy.",
)
flags.DEFINE_list("devices", [], "Devices for --strategy=mirrored/one_device (default: all GPUs).")
flags.DEFINE_string("tpu", "", "TPU name or address for --strategy=tpu ('local' on a TPU VM).")
flags.DEFINE_enum(
    "mixed_precision", "none", ["none", "float16", "bfloat16"], "Mixed-precision policy."
)
flags.DEFINE_bool("jit_compile", False, "XLA-compile the train step.")
flags.DEFINE_string(
    "model_dir",
    "",
    "Folder for logs, checkpoints, the model and results (default: a new temporary folder).",
)
flags.DEFINE_string("data_dir", "", "Folder of the dataset (default: the dataset's own).")
flags.DEFINE_integer("seed", 0, "Seed of initialisation and data order.")
flags.DEFINE_bool("resume", True, "Resume from the backup in --model_dir if there is one.")
flags.DEFINE_integer("verbose", 1, "0 silent, 1 progress bar, 2 one line per epoch.")
flags.DEFINE_integer("eval_every_epochs", 0, "Evaluate every N epochs during training (0: end).")
flags.DEFINE_string("model_options", "{}", "JSON object of extra model arguments.")
flags.DEFINE_string("dataset_options", "{}", "JSON object of extra dataset arguments.")
flags.DEFINE_string("optimizer_options", "{}", "JSON object of extra optimizer arguments.")

EXIT_BAD_INPUT = 2
EXIT_NON_FINITE = 3


def config_from_flags():
    """The flags as an ExperimentConfig (validated)."""
    from lbkeras.training import ExperimentConfig

    options = {}
    for name in ("model_options", "dataset_options", "optimizer_options"):
        try:
            options[name] = json.loads(getattr(FLAGS, name))
        except json.JSONDecodeError as error:
            raise ValueError(f"--{name} is not a JSON object: {error}") from None
        if not isinstance(options[name], dict):
            raise ValueError(f"--{name} must be a JSON object, got {getattr(FLAGS, name)}")
    try:
        decay_epochs = tuple(float(e) for e in FLAGS.decay_epochs)
    except ValueError:
        raise ValueError(f"--decay_epochs must be numbers, got {FLAGS.decay_epochs}") from None
    return ExperimentConfig(
        model=FLAGS.model,
        dataset=FLAGS.dataset,
        global_batch_size=FLAGS.global_batch_size,
        base_learning_rate=FLAGS.base_learning_rate,
        base_batch_size=FLAGS.base_batch_size,
        lr_scaling=FLAGS.lr_scaling,
        optimizer=FLAGS.optimizer,
        momentum=FLAGS.momentum,
        weight_decay=FLAGS.weight_decay,
        schedule=FLAGS.schedule,
        schedule_power=FLAGS.schedule_power,
        decay_epochs=decay_epochs,
        decay_rate=FLAGS.decay_rate,
        end_learning_rate=FLAGS.end_learning_rate,
        warmup_epochs=FLAGS.warmup_epochs,
        warmup_kind=FLAGS.warmup_kind,
        warmup_initial_learning_rate=FLAGS.warmup_initial_learning_rate,
        epochs=FLAGS.epochs,
        train_steps=FLAGS.train_steps,
        label_smoothing=FLAGS.label_smoothing,
        trust_ratio=FLAGS.trust_ratio,
        trust_ratio_scale=FLAGS.trust_ratio_scale,
        gradient_noise_eta=FLAGS.gradient_noise_eta,
        agc_clipping=FLAGS.agc,
        lookahead_sync_period=FLAGS.lookahead,
        ghost_batch_size=FLAGS.ghost_batch_size,
        accumulation_steps=FLAGS.accumulation_steps,
        sam_rho=FLAGS.sam_rho,
        strategy=FLAGS.strategy,
        devices=tuple(FLAGS.devices),
        tpu=FLAGS.tpu,
        mixed_precision=FLAGS.mixed_precision,
        jit_compile=FLAGS.jit_compile,
        model_dir=FLAGS.model_dir or tempfile.mkdtemp(prefix="lbkeras-"),
        data_dir=FLAGS.data_dir,
        seed=FLAGS.seed,
        resume=FLAGS.resume,
        verbose=FLAGS.verbose,
        eval_every_epochs=FLAGS.eval_every_epochs,
        **options,
    )


def main(argv: list[str]) -> int:
    if len(argv) > 1:
        print(
            f"lbkeras-train: unexpected arguments {argv[1:]}; flags start with --", file=sys.stderr
        )
        return EXIT_BAD_INPUT
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    logging.getLogger().setLevel(logging.INFO)
    from lbkeras.callbacks import NonFiniteLossError
    from lbkeras.training import run

    try:
        config = config_from_flags()
        results = run(config)
    except (ValueError, TypeError, FileNotFoundError) as error:
        print(f"lbkeras-train: error: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except NonFiniteLossError as error:
        print(f"lbkeras-train: {error}", file=sys.stderr)
        return EXIT_NON_FINITE
    print(
        f"test accuracy {results['eval_accuracy']:.4f}, test loss {results['eval_loss']:.4f} "
        f"after {results['steps']} steps at global batch {results['global_batch_size']} "
        f"(peak learning rate {results['peak_learning_rate']:g}), "
        f"{results['examples_per_second']:.0f} examples/s, {results['wall_seconds']:.0f} s; "
        f"results in {config.model_dir}"
    )
    return 0


def run_main() -> None:
    """Console-script entry point (``lbkeras-train``)."""
    app.run(main)


if __name__ == "__main__":
    run_main()
