"""Calibration: does a model that says "80 % sure" turn out right 80 % of the time?

The predictions are sorted by their confidence (the top probability) into 15 equal-width
bins over [0, 1], the usual choice since Guo et al. 2017, "On Calibration of Modern Neural
Networks". The expected calibration error is the gap between accuracy and mean confidence
in each bin, weighted by the share of predictions in it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

BINS = 15


@dataclass(frozen=True)
class Reliability:
    """Per bin: how many predictions fell in it, their mean confidence and their accuracy."""

    edges: list[float]  # bins + 1 edges from 0 to 1; bin i holds confidences in (edges[i], edges[i + 1]]
    counts: list[int]
    confidence: list[float | None]  # None for an empty bin
    accuracy: list[float | None]

    @property
    def total(self) -> int:
        return sum(self.counts)

    @property
    def expected_calibration_error(self) -> float:
        total = self.total
        return sum(count / total * abs(accuracy - confidence)
                   for count, confidence, accuracy in zip(self.counts, self.confidence, self.accuracy)
                   if count) if total else 0.0

    def as_json(self) -> dict[str, Any]:
        def rounded(values: list[float | None]) -> list[float | None]:
            return [None if value is None else round(value, 6) for value in values]

        return {"bins": len(self.counts), "method": "equal-width bins of the top probability",
                "ece": round(self.expected_calibration_error, 6), "counts": self.counts,
                "confidence": rounded(self.confidence), "accuracy": rounded(self.accuracy)}


def reliability(confidence: torch.Tensor, correct: torch.Tensor, bins: int = BINS) -> Reliability:
    """Bin predictions by confidence; `correct` says which were right. A confidence of exactly 0
    goes in the first bin (a softmax never gives one, hand-made sets may)."""
    confidence = confidence.cpu()
    if not confidence.is_floating_point():
        confidence = confidence.double()
    correct = correct.bool().cpu()
    edges = [step / bins for step in range(bins + 1)]
    # bin i holds (edges[i], edges[i+1]]; the edges are rounded to the confidences' own number
    # format, so a float32 0.2 lands in (2/15, 3/15] and not, by rounding, in the next bin
    index = torch.bucketize(confidence, torch.tensor(edges[1:-1], dtype=confidence.dtype), right=False)
    confidence = confidence.double()
    counts = torch.bincount(index, minlength=bins)
    confidence_sum = torch.zeros(bins, dtype=torch.float64).index_add_(0, index, confidence)
    correct_sum = torch.zeros(bins, dtype=torch.float64).index_add_(0, index, correct.double())
    mean = lambda sums: [float(total / count) if count else None for total, count in zip(sums, counts)]  # noqa: E731
    return Reliability(edges=edges, counts=counts.tolist(),
                       confidence=mean(confidence_sum), accuracy=mean(correct_sum))
