"""benchmarks/recipes.py runs a language-model recipe end to end and writes its claim.

A tiny LM recipe (tests/training/lm_common.py's model and corpus, 10 steps) is measured
with one seed as its own baseline, as ``--update_claims`` does for configs/lm_*.cfg:
the claim line it writes into the flagfile is the run's eval bits per byte, which is
checked against the run's eval loss in nats (bits = nats / ln 2), and the table shows
it 0 bits per byte behind itself.
"""

import json
import math
import os
import subprocess
import sys

from lbkeras.training.claims import COMMAND_PREFIX, read_claim
from tests.training import lm_common

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
STEPS = 10


def test_the_benchmark_measures_a_language_model_recipe(tmp_path):
    (tmp_path / "text").mkdir()
    lm_common.write_corpus(tmp_path / "text")
    recipe = tmp_path / "tiny_lm.cfg"
    recipe.write_text(
        "# A tiny LM recipe (Radford et al. 2019 layout).\n"
        "--model=transformer_lm\n"
        '--model_options={"num_layers": 1, "width": 16, "num_heads": 2}\n'
        "--dataset=text\n"
        f'--dataset_options={{"context": {lm_common.CONTEXT}}}\n'
        f"--data_dir={tmp_path / 'text'}\n"
        f"--global_batch_size={lm_common.BATCH}\n"
        "--optimizer=adamw\n--base_learning_rate=0.01\n"
        f"--base_batch_size={lm_common.BATCH}\n--warmup_epochs=0.1\n"
        f"--train_tokens={STEPS * lm_common.BATCH * lm_common.CONTEXT}\n"
    )
    completed = subprocess.run(
        [
            sys.executable,
            os.path.join(ROOT, "benchmarks", "recipes.py"),
            f"--configs={recipe}",
            f"--baseline={recipe}",
            "--seeds=1",
            "--update_claims",
            f"--work_dir={tmp_path / 'runs'}",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    with open(tmp_path / "runs" / "tiny_lm" / "seed0" / "results.json") as f:
        results = json.load(f)
    assert math.isclose(
        results["eval_bits_per_byte"], results["eval_loss"] / math.log(2), rel_tol=1e-5
    )
    claim = read_claim(str(recipe))
    assert claim.metric == "eval bits per byte"
    assert claim.value == round(results["eval_bits_per_byte"], 4)
    assert (claim.spread, claim.seeds, claim.steps) == (0.0, 1, STEPS)
    command = f"{COMMAND_PREFIX}python benchmarks/recipes.py --configs={recipe} --seeds=1\n"
    assert command in recipe.read_text()
    assert "behind baseline (bits per byte)" in completed.stdout
    row = next(line for line in completed.stdout.splitlines() if line.startswith(f"| {recipe} "))
    assert row.split("|")[4].strip() == "0.00"
