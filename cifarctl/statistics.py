"""Numbers over repeated runs: mean, spread, a confidence interval, and whether two settings differ.

Seeds alone move CIFAR-10 accuracy by a point or more, so a comparison reports the mean over
several runs with its sample standard deviation and a Student-t interval of the mean, and
calls two settings different only when Welch's t-test says the gap is unlikely to be noise.
No torch here; scipy supplies the t distribution.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

CONFIDENCE = 0.95
SIGNIFICANCE = 0.05  # a difference whose Welch p-value is below this "exceeds the noise"


@dataclass(frozen=True)
class Summary:
    """n values as mean, sample standard deviation (n - 1) and a 95 % t-interval of the mean."""

    n: int
    mean: float
    std: float | None  # None for a single value: one run says nothing about the spread
    low: float | None
    high: float | None

    def as_json(self, digits: int = 6) -> dict[str, Any]:
        def rounded(value: float | None) -> float | None:
            return None if value is None else round(value, digits)

        return {"n": self.n, "mean": rounded(self.mean), "std": rounded(self.std),
                "ci95": None if self.low is None else [rounded(self.low), rounded(self.high)]}


def summarize(values: Sequence[float], confidence: float = CONFIDENCE,
              bounds: tuple[float, float] | None = None) -> Summary:
    """`bounds`: the range the values can take (0..1 for an accuracy); the interval is clipped to it."""
    if not values:
        raise ValueError("no values to summarize")
    n = len(values)
    mean = math.fsum(values) / n
    if n == 1:
        return Summary(1, mean, None, None, None)
    std = math.sqrt(math.fsum((value - mean) ** 2 for value in values) / (n - 1))
    from scipy.stats import t

    half = t.ppf(0.5 + confidence / 2, n - 1) * std / math.sqrt(n)
    low, high = mean - half, mean + half
    if bounds is not None:
        low, high = max(bounds[0], low), min(bounds[1], high)
    return Summary(n, mean, std, low, high)


def welch_p_value(first: Sequence[float], second: Sequence[float]) -> float | None:
    """Two-sided p-value of Welch's t-test (unequal variances), or None when either side has one value."""
    if len(first) < 2 or len(second) < 2:
        return None
    if _spread(first) == 0 and _spread(second) == 0:
        return 1.0 if math.fsum(first) / len(first) == math.fsum(second) / len(second) else 0.0
    import warnings

    from scipy.stats import ttest_ind

    with warnings.catch_warnings():  # one side without spread (every seed at 100 %): scipy warns, the p-value holds
        warnings.simplefilter("ignore", RuntimeWarning)
        return float(ttest_ind(first, second, equal_var=False).pvalue)


def _spread(values: Sequence[float]) -> float:
    return max(values) - min(values)
