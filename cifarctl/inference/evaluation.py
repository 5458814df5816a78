"""Measuring a trained model on a split held in memory: accuracy, per class, confusion, calibration.

Accuracy with its 95 % Wilson interval, top-5 accuracy, per-class accuracy, precision, recall
and F1, the confusion matrix and its most confused pairs, accuracy by superclass (CIFAR-100),
and calibration."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn as nn

from cifarctl.data.catalog import CIFAR10_CLASSES, DEFAULT_DATASET, Classes
from cifarctl.data.memory import TUTORIAL_MEAN, TUTORIAL_STD, Split, normalize
from cifarctl.errors import CheckpointError
from cifarctl.inference import EVALUATION_BATCH
from cifarctl.inference.calibration import Reliability, reliability
from cifarctl.recipes.augment import tta_views
from cifarctl.recipes.precision import autocast, inference_layout

TUTORIAL_SAMPLE = 4  # the tutorial shows the first test batch of 4 images
TOP_K = 5
MOST_CONFUSED = 10  # the off-diagonal cells a report lists
Z_95 = 1.959963984540054  # the standard normal's 97.5 % quantile


def wilson_interval(correct: int, total: int, z: float = Z_95) -> tuple[float, float]:
    """The Wilson score interval of a proportion (95 % by default): unlike the normal
    approximation it stays inside [0, 1] and behaves near 0 % and 100 %."""
    if total == 0:
        return 0.0, 1.0
    share = correct / total
    denominator = 1 + z * z / total
    centre = (share + z * z / (2 * total)) / denominator
    half = z * math.sqrt(share * (1 - share) / total + z * z / (4 * total * total)) / denominator
    return max(0.0, centre - half), min(1.0, centre + half)


def class_scores(confusion: torch.Tensor, names: tuple[str, ...]) -> dict[str, dict[str, float | None]]:
    """Per class: precision (of the images predicted as it, the share that are), recall (of its
    images, the share found: the tutorial's per-class accuracy) and their harmonic mean F1.
    A class with no images measured (a small class of an imported folder may have none in its
    test split) has no recall and no F1: None, not a 0 that would count as a failure."""
    scores = {}
    for index, name in enumerate(names[: len(confusion)]):
        hits = float(confusion[index, index])
        predicted, actual = float(confusion[:, index].sum()), float(confusion[index].sum())
        precision = hits / predicted if predicted else 0.0
        if not actual:
            scores[name] = {"precision": precision, "recall": None, "f1": None}
            continue
        recall = hits / actual
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        scores[name] = {"precision": precision, "recall": recall, "f1": f1}
    return scores


def most_confused_pairs(confusion: torch.Tensor, names: tuple[str, ...],
                        count: int = MOST_CONFUSED) -> list[dict[str, Any]]:
    """The `count` largest off-diagonal cells of a confusion matrix (rows: truth), largest first:
    which true class was taken for which, how often, and as a share of the true class's images.
    Ties go to the larger share, then to label order; empty cells are never listed."""
    counts = confusion.to(torch.int64)
    totals = counts.sum(dim=1).tolist()
    cells = [(int(counts[row, column]), row, column)
             for row, column in (counts - torch.diag(counts.diagonal())).nonzero().tolist()]
    cells.sort(key=lambda cell: (-cell[0], -cell[0] / totals[cell[1]], cell[1], cell[2]))
    return [{"true": names[row], "predicted": names[column], "count": number, "share": number / totals[row]}
            for number, row, column in cells[:count]]


def superclass_scores(confusion: torch.Tensor, classes: Classes) -> dict[str, dict[str, float | int]] | None:
    """Per superclass, over its classes' images: `accuracy`, the share predicted as any class
    of the superclass (a shark taken for a trout still counts: both are fish), and
    `fine_accuracy`, the share predicted as exactly their class. None without superclasses."""
    if not classes.superclasses:
        return None
    member_of = torch.tensor(classes.superclass_of)
    scores = {}
    for index, name in enumerate(classes.superclasses):
        members = member_of == index
        rows = confusion[members].to(torch.int64)
        images = int(rows.sum())
        within = int(rows[:, members].sum())
        exact = int(confusion.diagonal()[members].sum())
        scores[name] = {"accuracy": within / images if images else 0.0,
                        "fine_accuracy": exact / images if images else 0.0, "images": images}
    return scores


def superclass_accuracy(confusion: torch.Tensor, classes: Classes) -> float | None:
    """The share of images whose predicted class is in their true class's superclass; None
    without superclasses."""
    if not classes.superclasses:
        return None
    member_of = torch.tensor(classes.superclass_of)
    same = member_of[:, None] == member_of[None, :]
    total = int(confusion.sum())
    return int(confusion[same].sum()) / total if total else 0.0


@dataclass
class EvalResult:
    split: str
    confusion: torch.Tensor  # (C, C) int64: rows are true classes, columns predictions
    sample_truth: list[int]
    sample_predicted: list[int]
    tta: bool = False
    predicted: torch.Tensor | None = None  # (N,) the class of every image
    confidence: torch.Tensor | None = None  # (N,) the probability given to that class
    top5_correct: int | None = None  # images whose class is among the five most probable
    calibration: Reliability | None = None
    classes: Classes = field(default=CIFAR10_CLASSES)
    dataset: str = DEFAULT_DATASET  # --dataset's name for it

    @property
    def baseline(self) -> float:
        """The accuracy of guessing uniformly at random."""
        return 1 / len(self.classes)

    @property
    def total(self) -> int:
        return int(self.confusion.sum())

    @property
    def correct(self) -> int:
        return int(self.confusion.diagonal().sum())

    @property
    def accuracy(self) -> float:
        return self.correct / self.total if self.total else 0.0

    def per_class(self) -> dict[str, float | None]:
        """Each class's accuracy (recall); None for a class with no images measured."""
        totals = self.confusion.sum(dim=1)
        return {
            name: (float(self.confusion[index, index]) / float(totals[index])) if totals[index] else None
            for index, name in enumerate(self.classes.names)
        }

    @property
    def interval(self) -> tuple[float, float]:
        """95 % Wilson interval of the accuracy."""
        return wilson_interval(self.correct, self.total)

    @property
    def top5_accuracy(self) -> float | None:
        return None if self.top5_correct is None or not self.total else self.top5_correct / self.total

    def scores(self) -> dict[str, dict[str, float]]:
        return class_scores(self.confusion, self.classes.names)

    def macro_f1(self) -> float:
        """The mean F1 over the classes that had images measured."""
        measured = [score["f1"] for score in self.scores().values() if score["f1"] is not None]
        return sum(measured) / len(measured) if measured else 0.0

    def most_confused(self, count: int = MOST_CONFUSED) -> list[dict[str, Any]]:
        return most_confused_pairs(self.confusion, self.classes.names, count)

    @property
    def superclass_accuracy(self) -> float | None:
        return superclass_accuracy(self.confusion, self.classes)

    @property
    def superclass_baseline(self) -> float | None:
        """Random guessing's superclass accuracy: a class of the right superclass by chance."""
        if not self.classes.superclasses:
            return None
        sizes = torch.bincount(torch.tensor(self.classes.superclass_of)).tolist()
        images = self.confusion.sum(dim=1).tolist()
        total = sum(images)
        if not total:
            return 0.0
        return sum(count * sizes[self.classes.superclass_of[index]] for index, count in enumerate(images)) / (
            total * len(self.classes))

    def per_superclass(self) -> dict[str, dict[str, float | int]] | None:
        return superclass_scores(self.confusion, self.classes)

    def as_json(self) -> dict[str, Any]:
        low, high = self.interval
        document = {
            "split": self.split,
            "accuracy": round(self.accuracy, 6),
            "correct": self.correct,
            "total": self.total,
            "accuracy_ci95": {"low": round(low, 6), "high": round(high, 6), "method": "wilson"},
            "top5_accuracy": None if self.top5_accuracy is None else round(self.top5_accuracy, 6),
            "baseline": self.baseline,
            "tta": self.tta,
            "per_class": {name: _rounded(value) for name, value in self.per_class().items()},
            "per_class_scores": {name: {key: _rounded(value) for key, value in score.items()}
                                 for name, score in self.scores().items()},
            "macro_f1": round(self.macro_f1(), 6),
            "confusion": self.confusion.tolist(),
            "dataset": self.dataset,
            "classes": list(self.classes.names),
            "most_confused": [{**pair, "share": round(pair["share"], 6)} for pair in self.most_confused()],
            "superclass_accuracy": None,  # these two only where the classes have superclasses (CIFAR-100)
            "per_superclass": None,
        }
        grouped = self.per_superclass()
        if grouped is not None:
            document["superclass_accuracy"] = round(self.superclass_accuracy, 6)
            document["per_superclass"] = {name: {key: round(value, 6) if isinstance(value, float) else value
                                                 for key, value in score.items()} for name, score in grouped.items()}
        if self.calibration is not None:
            document["calibration"] = self.calibration.as_json()
        return document


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 6)


@torch.inference_mode()
def predict_probabilities(model: nn.Module, images: torch.Tensor, device: torch.device, batch_size: int,
                          mean=TUTORIAL_MEAN, std=TUTORIAL_STD, tta: bool = False,
                          precision: str = "fp32") -> torch.Tensor:
    """Class probabilities (N, classes) of uint8 images, in large batches; with `tta`, the softmax
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
    return torch.cat(outputs) if outputs else torch.zeros(0, 0)


def predict(model: nn.Module, images: torch.Tensor, device: torch.device, batch_size: int,
            mean=TUTORIAL_MEAN, std=TUTORIAL_STD, tta: bool = False, precision: str = "fp32") -> torch.Tensor:
    """The predicted class of every image."""
    return predict_probabilities(model, images, device, batch_size, mean, std, tta, precision).argmax(dim=1)


def evaluate(model: nn.Module, data: Split, device: torch.device, batch_size: int = EVALUATION_BATCH,
             mean=TUTORIAL_MEAN, std=TUTORIAL_STD, tta: bool = False, precision: str = "fp32",
             dataset: str = DEFAULT_DATASET) -> EvalResult:
    probabilities = predict_probabilities(model, data.images, device, batch_size, mean, std, tta, precision)
    confidence, predicted = probabilities.max(dim=1)
    truth = data.labels
    top = probabilities.topk(min(TOP_K, probabilities.shape[1]), dim=1).indices
    count = len(data.classes)
    confusion = torch.bincount(truth * count + predicted, minlength=count**2).view(count, count)
    return EvalResult(
        split=data.name,
        confusion=confusion,
        sample_truth=truth[:TUTORIAL_SAMPLE].tolist(),
        sample_predicted=predicted[:TUTORIAL_SAMPLE].tolist(),
        tta=tta,
        predicted=predicted,
        confidence=confidence,
        top5_correct=int((top == truth[:, None]).any(dim=1).sum()),
        calibration=reliability(confidence, predicted == truth),
        classes=data.classes,
        dataset=dataset,
    )
