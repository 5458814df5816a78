"""A training run's position: the step it is at, its length, and the losses summed since the last line."""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from typing import Any

import torch

from cifarctl.data.memory import Split
from cifarctl.training.settings import TrainSettings


def dataset_identity(data: Split) -> dict[str, Any]:
    """How many images, and a fingerprint of labels and a sample of pixels (milliseconds to make)."""
    digest = hashlib.blake2b(digest_size=8)
    digest.update(data.labels.cpu().numpy().tobytes())
    digest.update(data.images[:: max(1, len(data) // 512)].cpu().numpy().tobytes())
    return {"images": len(data), "fingerprint": digest.hexdigest()}


def planned_steps(settings: TrainSettings, steps_per_epoch: int) -> int:
    """The run's length in steps: --steps (or a budget's fit) if set, else its epochs."""
    if settings.steps is not None:
        return settings.steps
    return max(1, math.ceil(settings.epochs * steps_per_epoch))


@dataclass
class RunState:
    step: int  # global mini-batch steps done
    total_steps: int
    steps_per_epoch: int
    dataset: dict[str, Any]
    length_fitted: bool = False  # a time budget set total_steps
    running_loss: float = 0.0  # the tutorial's running_loss, reset at every log line
    epoch_loss: float = 0.0
    final_loss: float = float("nan")  # mean loss over the last whole epoch
    test_accuracy: float | None = None
    metrics_bytes: int = 0
    elapsed_seconds: float = 0.0  # training time before this process, for the metrics log
    seen_images_this_run: int = 0  # by this process, not saved
    correct: int = 0  # right answers this epoch, by this process, when the recipe reports them
    # Summed on the device after every step and read (one host sync) only when a line needs them.
    pending_loss: torch.Tensor | None = None
    pending_correct: torch.Tensor | None = None

    @property
    def epoch(self) -> int:
        """The epoch the next step belongs to (0-based)."""
        return self.step // self.steps_per_epoch

    @property
    def in_epoch(self) -> int:
        """Steps done in the current epoch."""
        return self.step % self.steps_per_epoch

    @property
    def finished(self) -> bool:
        return self.step >= self.total_steps

    @property
    def epochs_total(self) -> int:
        """How many epochs the run has, counting a last partial one (a length set by --steps)."""
        return math.ceil(self.total_steps / self.steps_per_epoch)

    def count(self, loss: torch.Tensor, images: int, outputs: torch.Tensor | None = None,
              targets: torch.Tensor | None = None) -> None:
        """Add one step's loss (and right answers, given outputs and targets) without a host sync."""
        if self.pending_loss is None:
            self.pending_loss = torch.zeros((), dtype=torch.float64, device=loss.device)
            self.pending_correct = torch.zeros((), dtype=torch.int64, device=loss.device)
        self.pending_loss += loss.detach()
        if outputs is not None:
            self.pending_correct += (outputs.detach().argmax(dim=1) == targets).sum()
        self.seen_images_this_run += images

    def settle(self) -> None:
        """Move the sums from the device into the running, epoch and correct counts."""
        if self.pending_loss is None:
            return
        loss, correct = float(self.pending_loss), int(self.pending_correct)
        self.pending_loss.zero_()
        self.pending_correct.zero_()
        self.running_loss += loss
        self.epoch_loss += loss
        self.correct += correct
