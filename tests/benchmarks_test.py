"""The benchmarks start: every ``FLAGS.name`` a benchmark reads is a flag it defines.

The benchmarks are not run by the suite (minutes each), so a flag that a tool used to
define for them and no longer does would only show when someone runs one
(``benchmarks/recipes.py`` read ``FLAGS.data_dir`` after the tools stopped sharing one
global flag namespace). Checked statically, so it costs no TensorFlow start.
"""

import glob
import os
import re

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BENCHMARKS = sorted(glob.glob(os.path.join(ROOT, "benchmarks", "*.py")))


@pytest.mark.parametrize("path", BENCHMARKS, ids=os.path.basename)
def test_every_flag_a_benchmark_reads_is_defined_there(path):
    with open(path) as f:
        source = f.read()
    read = set(re.findall(r"\bFLAGS\.(\w+)", source))
    defined = set(re.findall(r"flags\.DEFINE_\w+\(\s*\"(\w+)\"", source))
    assert read <= defined, (
        f"{os.path.basename(path)} reads undefined flags {sorted(read - defined)}"
    )


def test_the_check_sees_the_benchmarks():
    assert len(BENCHMARKS) >= 8
