"""Claim lines of recipe flagfiles: parsed, written, and replaced in place."""

import pytest

from lbkeras.training.claims import Claim, claim_line, parse_claim, read_claim, with_claim

RECIPE = """# A recipe (Someone et al. 2020).
# Second comment line.
--model=mlp
--epochs=3
"""


def test_parse_and_write_round_trip():
    claim = Claim(accuracy=0.98765, spread=0.00123, seeds=1, steps=59, seconds=34.6)
    line = claim_line(claim)
    assert line == (
        "# measured: test accuracy 0.9877 ± 0.0012 over 1 seed, 59 steps, 35 s on a 2-core CPU"
    )
    assert parse_claim(line) == Claim(0.9877, 0.0012, 1, 59, 35.0)


@pytest.mark.parametrize(
    "line",
    [
        "# measured: test accuracy 0.99 over 3 seeds, 10 steps, 5 s on a 2-core CPU",  # no spread
        "# reaches 0.99",
        "--epochs=3",
    ],
)
def test_other_lines_are_not_claims(line):
    assert parse_claim(line) is None


def test_with_claim_adds_then_replaces(tmp_path):
    first = with_claim(RECIPE, Claim(0.9, 0.01, 3, 100, 60.0), "python b.py --configs=r")
    lines = first.splitlines()
    assert lines[:2] == RECIPE.splitlines()[:2]
    assert parse_claim(lines[2]) == Claim(0.9, 0.01, 3, 100, 60.0)
    assert lines[3] == "# measured by: python b.py --configs=r"
    assert lines[4:] == ["--model=mlp", "--epochs=3"]
    second = with_claim(first, Claim(0.95, 0.0, 1, 100, 50.0), "python b.py --seeds=1")
    assert second.count("# measured") == 2
    path = tmp_path / "r.cfg"
    path.write_text(second)
    assert read_claim(str(path)) == Claim(0.95, 0.0, 1, 100, 50.0)
    assert read_claim(str(tmp_path / "r.cfg")) is not None
    path.write_text(RECIPE)
    assert read_claim(str(path)) is None
