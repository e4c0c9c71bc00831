"""Small statistics for the feedback's trust figures: Wilson intervals, calibration (ECE and its bins), Cohen's kappa.

Pure Python, so `caic labels` and the review page need neither numpy nor
scipy. Every function takes plain sequences and returns plain numbers.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass
from typing import Hashable, Sequence

Z95 = 1.959963984540054  # the two-sided 95% normal quantile


def wilson_interval(successes: float, n: int, z: float = Z95) -> tuple[float, float]:
    """The Wilson score interval of a proportion; (0, 1) when there are no trials.

    `successes` may be fractional (a tie counted as half a success).
    """
    if n <= 0:
        return 0.0, 1.0
    if not 0 <= successes <= n:
        raise ValueError(f"successes must lie in [0, {n}], got {successes}")
    p = successes / n
    z2 = z * z
    centre = (p + z2 / (2 * n)) / (1 + z2 / n)
    half = z * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / (1 + z2 / n)
    return max(0.0, centre - half), min(1.0, centre + half)


@dataclass(frozen=True)
class Proportion:
    """A share with its count and 95% Wilson interval."""

    successes: float
    n: int

    @property
    def value(self) -> float | None:
        return self.successes / self.n if self.n else None

    @property
    def interval(self) -> tuple[float, float]:
        return wilson_interval(self.successes, self.n)

    def to_dict(self) -> dict:
        low, high = self.interval
        return {"value": self.value, "n": self.n, "successes": self.successes, "ci95": [low, high]}


@dataclass(frozen=True)
class CalibrationBin:
    low: float
    high: float
    count: int
    mean_predicted: float | None
    observed: float | None


def calibration_bins(predicted: Sequence[float], outcomes: Sequence[bool | float], bins: int = 10) -> list[CalibrationBin]:
    """Equal-width bins over [0, 1]: per bin, how many predictions, their mean, and how often the event happened.

    A prediction of exactly 1.0 falls in the last bin.
    """
    if len(predicted) != len(outcomes):
        raise ValueError("one outcome per prediction")
    if bins < 1:
        raise ValueError("at least one bin")
    members: list[list[int]] = [[] for _ in range(bins)]
    for i, p in enumerate(predicted):
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"a probability must lie in [0, 1], got {p}")
        members[min(int(p * bins), bins - 1)].append(i)
    found = []
    for k, indices in enumerate(members):
        if indices:
            mean_p = sum(predicted[i] for i in indices) / len(indices)
            observed = sum(float(outcomes[i]) for i in indices) / len(indices)
        else:
            mean_p = observed = None
        found.append(CalibrationBin(k / bins, (k + 1) / bins, len(indices), mean_p, observed))
    return found


def expected_calibration_error(predicted: Sequence[float], outcomes: Sequence[bool | float], bins: int = 10) -> float | None:
    """ECE: the count-weighted mean gap |mean predicted − observed frequency| over equal-width bins; None with no data."""
    if not predicted:
        return None
    total = len(predicted)
    return sum(b.count / total * abs(b.mean_predicted - b.observed) for b in calibration_bins(predicted, outcomes, bins) if b.count)


def cohen_kappa(first: Sequence[Hashable], second: Sequence[Hashable]) -> float | None:
    """Cohen's kappa of two raters over the same items: (observed − chance agreement) / (1 − chance).

    None when there are no items; 1.0 when both raters used one and the same
    category throughout (perfect agreement that chance also predicts).
    """
    if len(first) != len(second):
        raise ValueError("both raters must rate the same items")
    n = len(first)
    if n == 0:
        return None
    observed = sum(a == b for a, b in zip(first, second)) / n
    count_a, count_b = Counter(first), Counter(second)
    chance = sum(count_a[c] * count_b[c] for c in count_a) / (n * n)
    if chance >= 1.0:
        return 1.0 if observed >= 1.0 else 0.0
    return (observed - chance) / (1.0 - chance)


def direction(p: float, tie: float = 1e-9) -> int:
    """+1 when a probability prefers the first response, −1 the second, 0 a tie."""
    if p > 0.5 + tie:
        return 1
    if p < 0.5 - tie:
        return -1
    return 0
