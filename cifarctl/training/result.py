"""What one finished training run reports: `train`'s summary table and its --json."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cifarctl.models import ModelInfo
from cifarctl.training.metrics import clean_number
from cifarctl.training.run_files import RunFiles
from cifarctl.training.settings import TrainSettings

if TYPE_CHECKING:
    from cifarctl.training.class_report import ClassScores


@dataclass
class TrainResult:
    settings: TrainSettings
    model: ModelInfo
    parameters: int
    epochs_run: float
    steps: int
    total_steps: int
    planned_epochs: float  # total_steps in epochs (fractional when --steps or a budget set it)
    final_loss: float
    seconds: float
    images_per_second: float
    files: RunFiles
    resumed_from: tuple[int, int] | None  # (epoch, step) the run continued from
    processes: int = 1  # torchrun's WORLD_SIZE; settings.batch_size is per process
    precision: str = "fp32"
    loss_history: tuple[float, ...] = ()  # the running-loss values logged during this run
    test_accuracy: float | None = None  # from the last --eval-every pass, if any
    evaluated_on: str = "test"  # the split --eval-every measured: "val" when one is held out
    class_scores: ClassScores | None = None  # macro-F1 and recall per class, measured at the end on imbalanced data

    @property
    def output(self) -> Path:
        return self.files.output

    @property
    def checkpoint(self) -> Path:
        return self.files.checkpoint

    def as_json(self) -> dict[str, Any]:
        return {
            "config": self.settings.as_json(),
            "model": {"name": self.model.name, **self.model.options, "parameters": self.parameters},
            "epochs": round(self.planned_epochs, 4),
            "epochs_run": round(self.epochs_run, 4),
            "steps": self.steps,
            "total_steps": self.total_steps,
            "processes": self.processes,
            "global_batch_size": self.settings.batch_size * self.processes,
            "precision": self.precision,
            "final_loss": clean_number(round(self.final_loss, 6)),
            **{f"{split}_accuracy": None if self.test_accuracy is None or split != self.evaluated_on
               else round(self.test_accuracy, 6) for split in ("test", "val")},
            "train_seconds": round(self.seconds, 3),
            "images_per_second": round(self.images_per_second, 1),
            "output": str(self.files.output),
            "checkpoint": str(self.files.checkpoint),
            "metrics": str(self.files.metrics),
            "resumed_from": None if self.resumed_from is None
            else {"epoch": self.resumed_from[0] + 1, "step": self.resumed_from[1]},
            "class_scores": None if self.class_scores is None else self.class_scores.as_json(),
        }
