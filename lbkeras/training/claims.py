"""What a recipe flagfile says it reaches, in one parseable comment line.

A recipe in ``configs/`` that was measured states it in a comment that names its
metric (one of :data:`lbkeras.training.task.CLAIM_METRICS`: test accuracy for a
classifier, eval bits per byte for a language model)::

    # measured: test accuracy 0.9925 ± 0.0008 over 3 seeds, 7500 steps, 95 s on a 2-core CPU
    # measured by: python benchmarks/recipes.py --configs=mnist1d_nesterov_64 --seeds=3

``benchmarks/recipes.py`` reruns the recipes and prints what it measures beside these
claims (and with ``--update_claims`` writes its own measurement in), and a fast test
checks that every MNIST-1D and LM recipe states one. The spread is the standard
deviation over the seeds (0 for one seed).

Example:
    >>> claim = parse_claim("# measured: test accuracy 0.9925 ± 0.0008 over 3 seeds, "
    ...                     "7500 steps, 95 s on a 2-core CPU")
    >>> claim.metric, claim.value, claim.spread, claim.seeds, claim.steps, claim.seconds
    ('test accuracy', 0.9925, 0.0008, 3, 7500, 95.0)
    >>> claim_line(claim) == claim_line(parse_claim(claim_line(claim)))
    True
    >>> parse_claim("# measured: eval bits per byte 2.1036 ± 0.0050 over 3 seeds, "
    ...             "768 steps, 84 s on a 2-core CPU").result.name
    'eval_bits_per_byte'
"""

from __future__ import annotations

import dataclasses
import re

from lbkeras.training.task import CLAIM_METRICS, TargetMetric, result_metric

CLAIM_PREFIX = "# measured: "
COMMAND_PREFIX = "# measured by: "
_CLAIM = re.compile(
    rf"^# measured: (?P<metric>{'|'.join(map(re.escape, CLAIM_METRICS))}) "
    r"(?P<value>[0-9.]+) ± (?P<spread>[0-9.]+) over "
    r"(?P<seeds>\d+) seeds?, (?P<steps>\d+) steps, (?P<seconds>[0-9.]+) s on (?P<machine>.+)$"
)


@dataclasses.dataclass(frozen=True)
class Claim:
    """A recipe's measured ``metric`` (mean ``value`` and ``spread`` over seeds), steps
    and time; ``metric`` is a key of :data:`~lbkeras.training.task.CLAIM_METRICS`."""

    value: float
    spread: float
    seeds: int
    steps: int
    seconds: float
    machine: str = "a 2-core CPU"
    metric: str = "test accuracy"

    def __post_init__(self) -> None:
        if self.metric not in CLAIM_METRICS:
            raise ValueError(
                f"a claim's metric is one of {', '.join(CLAIM_METRICS)}; got {self.metric!r}"
            )

    @property
    def result(self) -> TargetMetric:
        """The claimed metric as ``results.json`` names it, with its direction."""
        return result_metric(self.metric)


def parse_claim(line: str) -> Claim | None:
    """The claim of one comment line, or None if the line is not a claim."""
    match = _CLAIM.match(line.strip())
    if match is None:
        return None
    return Claim(
        value=float(match["value"]),
        spread=float(match["spread"]),
        seeds=int(match["seeds"]),
        steps=int(match["steps"]),
        seconds=float(match["seconds"]),
        machine=match["machine"],
        metric=match["metric"],
    )


def read_claim(path: str) -> Claim | None:
    """The claim a flagfile states (its first claim line), or None."""
    with open(path) as f:
        for line in f:
            claim = parse_claim(line)
            if claim is not None:
                return claim
    return None


def claim_line(claim: Claim) -> str:
    """The comment line stating ``claim`` (without a newline)."""
    seeds = f"{claim.seeds} seed{'s' if claim.seeds != 1 else ''}"
    return (
        f"{CLAIM_PREFIX}{claim.metric} {claim.value:.4f} ± {claim.spread:.4f} over {seeds}, "
        f"{claim.steps} steps, {claim.seconds:.0f} s on {claim.machine}"
    )


def with_claim(text: str, claim: Claim, command: str) -> str:
    """Flagfile ``text`` with its claim and command lines replaced by (or, if it has
    none, followed by) ``claim`` and ``command``, after the other leading comments."""
    lines = [
        line for line in text.splitlines() if not line.startswith((CLAIM_PREFIX, COMMAND_PREFIX))
    ]
    at = next((i for i, line in enumerate(lines) if not line.startswith("#")), len(lines))
    new = [claim_line(claim), f"{COMMAND_PREFIX}{command}"]
    return "\n".join(lines[:at] + new + lines[at:]) + "\n"
