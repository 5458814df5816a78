"""Measuring a trained model: overall and per-class accuracy, and the confusion matrix."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn as nn

from cifarctl.data.catalog import NUM_CLASSES, SHORT_NAMES
from cifarctl.data.memory import Split, normalize

RANDOM_BASELINE = 1 / NUM_CLASSES
TUTORIAL_SAMPLE = 4  # the tutorial shows the first test batch of 4 images


@dataclass
class EvalResult:
    split: str
    confusion: torch.Tensor  # (10, 10) int64: rows are true classes, columns predictions
    sample_truth: list[int]
    sample_predicted: list[int]

    @property
    def total(self) -> int:
        return int(self.confusion.sum())

    @property
    def correct(self) -> int:
        return int(self.confusion.diagonal().sum())

    @property
    def accuracy(self) -> float:
        return self.correct / self.total if self.total else 0.0

    def per_class(self) -> dict[str, float]:
        totals = self.confusion.sum(dim=1)
        return {
            name: (float(self.confusion[index, index]) / float(totals[index])) if totals[index] else 0.0
            for index, name in enumerate(SHORT_NAMES)
        }

    def as_json(self) -> dict[str, Any]:
        return {
            "split": self.split,
            "accuracy": round(self.accuracy, 6),
            "correct": self.correct,
            "total": self.total,
            "baseline": RANDOM_BASELINE,
            "per_class": {name: round(value, 6) for name, value in self.per_class().items()},
            "confusion": self.confusion.tolist(),
        }


@torch.no_grad()
def predict(model: nn.Module, images: torch.Tensor, device: torch.device, batch_size: int) -> torch.Tensor:
    """The predicted class of every image, in large batches (no gradients needed)."""
    model.eval()
    predictions = []
    for start in range(0, len(images), batch_size):
        batch = normalize(images[start : start + batch_size].to(device))
        predictions.append(model(batch).argmax(dim=1).cpu())
    return torch.cat(predictions) if predictions else torch.zeros(0, dtype=torch.long)


def evaluate(model: nn.Module, data: Split, device: torch.device, batch_size: int = 1000) -> EvalResult:
    predicted = predict(model, data.images, device, batch_size)
    truth = data.labels
    confusion = torch.bincount(truth * NUM_CLASSES + predicted, minlength=NUM_CLASSES**2).view(NUM_CLASSES, NUM_CLASSES)
    return EvalResult(
        split=data.name,
        confusion=confusion,
        sample_truth=truth[:TUTORIAL_SAMPLE].tolist(),
        sample_predicted=predicted[:TUTORIAL_SAMPLE].tolist(),
    )
