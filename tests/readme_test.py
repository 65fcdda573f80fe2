"""Every ```python block of README.md runs as printed, in order, in one new Python process.

The blocks are a reader's session: the first sets up the small problem the others use
(MNIST-1D, a 1-D CNN, two logical CPU devices for ``MirroredStrategy``). Nothing in them
is substituted. They run in a process of their own because the first block configures
TensorFlow's devices, which only works before TensorFlow starts (this session started it),
and with ``HOME`` in a temporary folder, so that MNIST-1D is generated there and not into
the user's ``~/.cache``.
"""

import json
import os
import re
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Test accuracy of the README's LARS example (measured: 0.93 with from_logits=True, 0.10,
# chance, with loss="sparse_categorical_crossentropy", which reads the logits as probabilities).
MIN_ACCURACY = 0.5

# Runs the blocks (JSON on stdin) in one namespace, then prints what the test checks. Blank
# lines in front of each block make tracebacks name the README's own line numbers.
RUNNER = """
import json, sys
namespace = {"__name__": "__main__"}
for line, code in json.load(sys.stdin):
    exec(compile("\\n" * (line - 1) + code, "README.md", "exec"), namespace)
facts = {
    "accuracy": namespace["accuracy"],
    "replicas": namespace["strategy"].num_replicas_in_sync,
}
print("README facts:", json.dumps(facts))
"""


def _readme() -> str:
    with open(os.path.join(ROOT, "README.md")) as f:
        return f.read()


def python_blocks(text: str) -> list[tuple[int, str]]:
    """``(line of the block's first code line, code)`` for every ```python block of ``text``."""
    return [
        (text[: match.start(1)].count("\n") + 1, match.group(1))
        for match in re.finditer(r"^```python\n(.*?)^```$", text, re.S | re.M)
    ]


def test_every_python_fence_is_collected():
    """A block the pattern misses (```py, ```Python, a trailing space) would never run."""
    text = _readme()
    fences = re.findall(r"^```\s*(?:python|py)\w*\s*$", text, re.M | re.I)
    assert len(python_blocks(text)) == len(fences) > 0, fences


def test_readme_python_blocks_run_and_train(tmp_path):
    env = dict(os.environ, HOME=str(tmp_path), KERAS_BACKEND="tensorflow")
    result = subprocess.run(
        [sys.executable, "-c", RUNNER],
        input=json.dumps(python_blocks(_readme())),
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-5000:]
    facts = json.loads(result.stdout.rsplit("README facts:", 1)[1])
    assert facts["replicas"] == 2, "MirroredStrategy must use the two logical CPUs"
    assert facts["accuracy"] > MIN_ACCURACY, facts
