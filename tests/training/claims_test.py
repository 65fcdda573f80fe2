"""Claim lines of recipe flagfiles: parsed, written, and replaced in place, for every
metric a claim may name."""

import pytest

from lbkeras.training.claims import Claim, claim_line, parse_claim, read_claim, with_claim
from lbkeras.training.task import CLAIM_METRICS

RECIPE = """# A recipe (Someone et al. 2020).
# Second comment line.
--model=mlp
--epochs=3
"""


def test_parse_and_write_round_trip():
    claim = Claim(value=0.98765, spread=0.00123, seeds=1, steps=59, seconds=34.6)
    line = claim_line(claim)
    assert line == (
        "# measured: test accuracy 0.9877 ± 0.0012 over 1 seed, 59 steps, 35 s on a 2-core CPU"
    )
    assert parse_claim(line) == Claim(0.9877, 0.0012, 1, 59, 35.0)


def test_a_language_model_claims_bits_per_byte_lower_is_better():
    line = (
        "# measured: eval bits per byte 2.1036 ± 0.0050 over 3 seeds, 768 steps, 84 s on "
        "a 2-core CPU"
    )
    claim = parse_claim(line)
    assert claim == Claim(2.1036, 0.005, 3, 768, 84.0, metric="eval bits per byte")
    assert claim_line(claim) == line
    assert (claim.result.name, claim.result.lower_is_better) == ("eval_bits_per_byte", True)
    accuracy = parse_claim(line.replace("eval bits per byte", "test accuracy"))
    assert (accuracy.result.name, accuracy.result.lower_is_better) == ("eval_accuracy", False)


@pytest.mark.parametrize("metric", sorted(CLAIM_METRICS))
def test_every_metric_round_trips(metric):
    claim = Claim(1.5, 0.25, 3, 10, 5.0, metric=metric)
    assert parse_claim(claim_line(claim)) == claim


def test_an_unknown_metric_is_refused():
    with pytest.raises(ValueError, match="test accuracy, eval bits per byte.*'perplexity'"):
        Claim(1.5, 0.0, 1, 10, 5.0, metric="perplexity")


@pytest.mark.parametrize(
    "line",
    [
        "# measured: test accuracy 0.99 over 3 seeds, 10 steps, 5 s on a 2-core CPU",  # no spread
        "# measured: perplexity 4.1 ± 0.1 over 3 seeds, 10 steps, 5 s on a 2-core CPU",
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
    lm = Claim(2.2, 0.0, 1, 100, 50.0, metric="eval bits per byte")
    second = with_claim(first, lm, "python b.py --seeds=1")
    assert second.count("# measured") == 2
    path = tmp_path / "r.cfg"
    path.write_text(second)
    assert read_claim(str(path)) == lm
    path.write_text(RECIPE)
    assert read_claim(str(path)) is None
