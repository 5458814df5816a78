"""Per-class scores at the end of a run on imbalanced data: accuracy alone hides a class the model gave up on.

On data whose largest class has more than 3x the smallest's images (or with class weights),
the finished model file is measured on the held-out split exactly as `cifarctl evaluate`
measures it (the same loader, test-time augmentation as the recipe says), and the run reports
the macro-averaged F1 and each class's recall.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from cifarctl.data.memory import Split
from cifarctl.inference import EVALUATION_BATCH
from cifarctl.inference.evaluation import evaluate
from cifarctl.inference.model_files import load_trained_model
from cifarctl.training.data_fit import balance_of_split
from cifarctl.training.settings import TrainSettings


@dataclass(frozen=True)
class ClassScores:
    split: str  # "test" or "val"
    images: int
    accuracy: float
    macro_f1: float
    recall: dict[str, float | None]  # per class, in label order (None: no image of it was measured)

    def worst(self) -> tuple[str, float] | None:
        measured = [(name, value) for name, value in self.recall.items() if value is not None]
        return min(measured, key=lambda item: item[1]) if measured else None

    def as_json(self) -> dict[str, Any]:
        worst = self.worst()
        return {"split": self.split, "images": self.images, "accuracy": round(self.accuracy, 6),
                "macro_f1": round(self.macro_f1, 6),
                "recall": {name: None if value is None else round(value, 6) for name, value in self.recall.items()},
                "worst_recall": None if worst is None else {"class": worst[0], "recall": round(worst[1], 6)}}


def reports_classes(settings: TrainSettings, data: Split) -> bool:
    """Whether the run's end reports per-class scores: imbalanced data, or weighted classes."""
    return settings.class_weights is not None or balance_of_split(data).imbalanced


def measure_classes(model_file: Path, held_out: Split, device: torch.device) -> ClassScores:
    """The saved model's macro-F1 and per-class recall on `held_out`, as `evaluate` would give them."""
    trained = load_trained_model(model_file, device)
    result = evaluate(trained.network, held_out, device, EVALUATION_BATCH, trained.mean, trained.std, trained.tta,
                      trained.precision)
    return ClassScores(held_out.name, result.total, result.accuracy, result.macro_f1(), result.per_class())
