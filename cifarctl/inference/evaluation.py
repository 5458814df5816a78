"""Measuring a trained model: overall and per-class accuracy, and the confusion matrix."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn as nn

from cifarctl.data.catalog import NUM_CLASSES, SHORT_NAMES
from cifarctl.data.memory import TUTORIAL_MEAN, TUTORIAL_STD, Split, normalize
from cifarctl.errors import CheckpointError
from cifarctl.recipes.augment import tta_views
from cifarctl.recipes.precision import autocast, inference_layout

RANDOM_BASELINE = 1 / NUM_CLASSES
TUTORIAL_SAMPLE = 4  # the tutorial shows the first test batch of 4 images


@dataclass
class EvalResult:
    split: str
    confusion: torch.Tensor  # (10, 10) int64: rows are true classes, columns predictions
    sample_truth: list[int]
    sample_predicted: list[int]
    tta: bool = False
    predicted: torch.Tensor | None = None  # (N,) the class of every image
    confidence: torch.Tensor | None = None  # (N,) the probability given to that class

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
            "tta": self.tta,
            "per_class": {name: round(value, 6) for name, value in self.per_class().items()},
            "confusion": self.confusion.tolist(),
        }


@torch.no_grad()
def predict_probabilities(model: nn.Module, images: torch.Tensor, device: torch.device, batch_size: int,
                          mean=TUTORIAL_MEAN, std=TUTORIAL_STD, tta: bool = False,
                          precision: str = "fp32") -> torch.Tensor:
    """Class probabilities (N, 10) of uint8 images, in large batches; with `tta`, the softmax
    of the logits averaged over the image and its mirror."""
    was_training = model.training
    model.eval()
    memory_format = inference_layout(precision, device)
    outputs = []
    for start in range(0, len(images), batch_size):
        batch = normalize(images[start : start + batch_size].to(device), mean, std)
        batch = batch.contiguous(memory_format=memory_format)
        with autocast(device, precision):
            views = tta_views(batch) if tta else [batch]
            logits = torch.stack([model(view).float() for view in views]).mean(dim=0)
        if not bool(torch.isfinite(logits).all()):
            raise CheckpointError("the model's outputs are not finite numbers (NaN or infinity): its weights or "
                                  "batch-norm statistics are damaged or overflow; train it again")
        outputs.append(logits.softmax(dim=1).cpu())
    model.train(was_training)
    return torch.cat(outputs) if outputs else torch.zeros(0, NUM_CLASSES)


def predict(model: nn.Module, images: torch.Tensor, device: torch.device, batch_size: int,
            mean=TUTORIAL_MEAN, std=TUTORIAL_STD, tta: bool = False, precision: str = "fp32") -> torch.Tensor:
    """The predicted class of every image."""
    return predict_probabilities(model, images, device, batch_size, mean, std, tta, precision).argmax(dim=1)


def evaluate(model: nn.Module, data: Split, device: torch.device, batch_size: int = 1000,
             mean=TUTORIAL_MEAN, std=TUTORIAL_STD, tta: bool = False, precision: str = "fp32") -> EvalResult:
    probabilities = predict_probabilities(model, data.images, device, batch_size, mean, std, tta, precision)
    confidence, predicted = probabilities.max(dim=1)
    truth = data.labels
    confusion = torch.bincount(truth * NUM_CLASSES + predicted, minlength=NUM_CLASSES**2).view(NUM_CLASSES, NUM_CLASSES)
    return EvalResult(
        split=data.name,
        confusion=confusion,
        sample_truth=truth[:TUTORIAL_SAMPLE].tolist(),
        sample_predicted=predicted[:TUTORIAL_SAMPLE].tolist(),
        tta=tta,
        predicted=predicted,
        confidence=confidence,
    )
