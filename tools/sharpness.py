"""lbkeras-sharpness: the sharpness of the minimum a trainer run reached (Keskar et al. 2017).

Loads ``--run_dir/model.keras``, rebuilds the run's training data from its
``config.json``, and measures on the first ``--num_batches`` training batches of
``--batch_size`` examples (fixed: no shuffling, no augmentation) the training loss, the
top Hessian eigenvalue (power iteration) and the epsilon-sharpness (a lower bound, by
projected ascent in the box ``|d_i| <= epsilon (|w_i| + 1)``). It prints them and writes
them to ``--run_dir/sharpness.json``. ``--data_dir`` overrides the run's data folder.

    lbkeras-sharpness --run_dir=/tmp/run1
    lbkeras-sharpness --run_dir=/tmp/run1 --epsilon=5e-4 --num_batches=8 --batch_size=500

Bad input (no such run folder, no model.keras in it, epsilon <= 0, a flag that does not
parse) prints one line naming the problem, writes nothing and exits with status 2.
"""

from __future__ import annotations

from absl import flags

from lbkeras.analysis.trained_run import SHARPNESS_FILE, SharpnessSettings, sharpness_of_run
from lbkeras.training.config import EXPERIMENT
from lbkeras.training.config_flags import config_from_flags, define_flags

from .common import run_tool

FLAGS = flags.FlagValues()
flags.DEFINE_string(
    "run_dir",
    "",
    "A trainer run's folder (its --model_dir) to measure.",
    flag_values=FLAGS,
    module_name=EXPERIMENT,
)
flags.DEFINE_string(
    "data_dir",
    "",
    "Folder of the run's dataset (default: the one in its config.json).",
    flag_values=FLAGS,
    module_name=EXPERIMENT,
)
define_flags(SharpnessSettings, FLAGS, group="measuring")

PROGRAM = "lbkeras-sharpness"


def main() -> int:
    if not FLAGS.run_dir:
        raise ValueError("--run_dir is required: the folder of a trainer run")
    settings = config_from_flags(SharpnessSettings, FLAGS)
    measured = sharpness_of_run(FLAGS.run_dir, settings, data_dir=FLAGS.data_dir or None)
    converged = "converged" if measured["eigenvalue_converged"] else "NOT converged"
    print(
        f"sharpness of {FLAGS.run_dir} on {measured['num_examples']} training examples "
        f"({measured['num_batches']} batches): train loss {measured['loss']:.6g}, "
        f"top Hessian eigenvalue {measured['top_hessian_eigenvalue']:.6g} "
        f"({converged} in {measured['eigenvalue_iterations']} iterations), "
        f"epsilon-sharpness {measured['epsilon_sharpness']:.6g} at epsilon {measured['epsilon']:g} "
        f"(a lower bound), {measured['wall_seconds']:.0f} s; "
        f"{SHARPNESS_FILE} in {FLAGS.run_dir}"
    )
    return 0


def run_main() -> None:
    """Console-script entry point (``lbkeras-sharpness``)."""
    run_tool(PROGRAM, main, FLAGS, __doc__)


if __name__ == "__main__":
    run_main()
