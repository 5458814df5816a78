"""The training loop: the tutorial's, on in-memory tensors, resumable and bit-reproducible.

One epoch is a seeded permutation of the training set, cut into mini-batches in order,
exactly like `DataLoader(shuffle=True)` (the last batch may be smaller). The loss line
`[epoch, step] loss: x.xxx` is the tutorial's, printed every `log_every` mini-batches.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn as nn

from cifarctl.checkpoints import load_checkpoint, save_checkpoint, save_state
from cifarctl.data.memory import Split, epoch_permutation, normalize
from cifarctl.errors import Interrupted, UsageError
from cifarctl.events import Events
from cifarctl.models import ModelInfo, build_model, count_parameters
from cifarctl.sgd import MomentumSGD

PROGRESS_INTERVAL_S = 0.25
# Below this batch size oneDNN's per-call overhead outweighs its speed on a CPU, and
# PyTorch's plain convolution is faster (benchmarks/train_vs_tutorial.py measures it).
SMALL_CPU_BATCH = 8
# Settings that must match for --resume to continue the same run.
RESUME_KEYS = ("model", "width", "batch_size", "lr", "momentum", "seed")


@dataclass(frozen=True)
class TrainSettings:
    model: str = "net"
    width: int = 6
    epochs: int = 2
    batch_size: int = 4
    lr: float = 0.001
    momentum: float = 0.9
    log_every: int = 2000
    seed: int = 0


@dataclass
class TrainResult:
    settings: TrainSettings
    model: ModelInfo
    parameters: int
    epochs_run: int
    steps: int
    final_loss: float
    seconds: float
    images_per_second: float
    output: Path
    checkpoint: Path
    resumed_from: tuple[int, int] | None  # (epoch, step) the run continued from

    def as_json(self) -> dict[str, Any]:
        return {
            "config": asdict(self.settings),
            "model": {"name": self.model.name, **self.model.options, "parameters": self.parameters},
            "epochs": self.settings.epochs,
            "epochs_run": self.epochs_run,
            "steps": self.steps,
            "final_loss": round(self.final_loss, 6),
            "train_seconds": round(self.seconds, 3),
            "images_per_second": round(self.images_per_second, 1),
            "output": str(self.output),
            "checkpoint": str(self.checkpoint),
            "resumed_from": None if self.resumed_from is None
            else {"epoch": self.resumed_from[0] + 1, "step": self.resumed_from[1]},
        }


def train(
    settings: TrainSettings,
    data: Split,
    device: torch.device,
    output: Path,
    checkpoint: Path,
    resume: bool = False,
    events: Events = Events(),
    should_stop: Callable[[], bool] = lambda: False,
) -> TrainResult:
    """Train, saving the checkpoint every epoch and on a stop request; write `output` at the end."""
    run = _Run(settings, device, checkpoint)
    if resume:
        run.restore()
        events.message(f"resuming from {checkpoint} at epoch {run.epoch + 1}, mini-batch {run.step}")
    resumed_from = (run.epoch, run.step) if resume else None
    images = normalize(data.images.to(device))
    labels = data.labels.to(device)
    steps_per_epoch = math.ceil(len(labels) / settings.batch_size)
    done_before = run.epoch * steps_per_epoch + run.step
    started = time.perf_counter()
    events.task_started(f"training {run.info.describe()}", settings.epochs * steps_per_epoch, unit="steps")
    try:
        with _onednn(device.type != "cpu" or settings.batch_size > SMALL_CPU_BATCH):
            while run.epoch < settings.epochs:
                run.train_epoch(images, labels, events, should_stop)
                run.epoch, run.step = run.epoch + 1, 0
                run.save()
    finally:
        events.task_finished()
    seconds = time.perf_counter() - started
    save_state(run.model.state_dict(), output)
    return TrainResult(
        settings=settings,
        model=run.info,
        parameters=count_parameters(run.model),
        epochs_run=settings.epochs - (resumed_from[0] if resumed_from else 0),
        steps=settings.epochs * steps_per_epoch - done_before,
        final_loss=run.final_loss,
        seconds=seconds,
        images_per_second=run.seen_images / seconds if seconds > 0 else 0.0,
        output=output,
        checkpoint=checkpoint,
        resumed_from=resumed_from,
    )


class _Run:
    """One training run's model, optimiser and position: everything a checkpoint holds."""

    def __init__(self, settings: TrainSettings, device: torch.device, checkpoint: Path) -> None:
        self.settings = settings
        self.checkpoint = checkpoint
        self.info = ModelInfo(settings.model, {"width": settings.width})
        torch.manual_seed(settings.seed)
        self.model = build_model(self.info).to(device)
        self.optimizer = MomentumSGD(self.model.parameters(), lr=settings.lr, momentum=settings.momentum)
        self.criterion = nn.CrossEntropyLoss()
        self.epoch = 0  # the epoch in progress, from 0
        self.step = 0  # the next mini-batch of that epoch
        self.running_loss = 0.0  # the tutorial's running_loss, reset at every log line
        self.epoch_loss = 0.0
        self.final_loss = float("nan")  # mean loss over the last whole epoch
        self.seen_images = 0

    def train_epoch(self, images: torch.Tensor, labels: torch.Tensor, events: Events,
                    should_stop: Callable[[], bool]) -> None:
        settings = self.settings
        order = epoch_permutation(len(labels), settings.seed, self.epoch).to(images.device)
        steps = math.ceil(len(labels) / settings.batch_size)
        started, last_progress = time.perf_counter(), time.monotonic()
        images_at_start = self.seen_images
        self.model.train()
        while self.step < steps:
            if should_stop():
                self.save()
                raise Interrupted(f"interrupted at epoch {self.epoch + 1}, mini-batch {self.step}; checkpoint saved "
                                  f"to {self.checkpoint}; rerun the same command with --resume to continue")
            batch = order[self.step * settings.batch_size : (self.step + 1) * settings.batch_size]
            loss_value = self._train_step(images[batch], labels[batch])
            self.step += 1
            if self.step % settings.log_every == 0:
                events.message(f"[{self.epoch + 1}, {self.step:5d}] loss: {self.running_loss / settings.log_every:.3f}")
                self.running_loss = 0.0
            if time.monotonic() - last_progress >= PROGRESS_INTERVAL_S:
                last_progress = time.monotonic()
                rate = (self.seen_images - images_at_start) / (time.perf_counter() - started)
                events.task_advanced(self.epoch * steps + self.step,
                                     f"epoch {self.epoch + 1}/{settings.epochs}  loss {loss_value:.3f}  {rate:,.0f} img/s")
        self.final_loss = self.epoch_loss / steps
        self.running_loss = self.epoch_loss = 0.0
        events.task_advanced((self.epoch + 1) * steps, f"epoch {self.epoch + 1}/{settings.epochs} done")

    def _train_step(self, inputs: torch.Tensor, targets: torch.Tensor) -> float:
        self.optimizer.zero_grad()
        loss = self.criterion(self.model(inputs), targets)
        loss.backward()
        self.optimizer.step()
        value = loss.item()
        self.running_loss += value
        self.epoch_loss += value
        self.seen_images += len(targets)
        return value

    def save(self) -> None:
        save_checkpoint(self.checkpoint, {
            "settings": asdict(self.settings),
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "epoch": self.epoch,
            "step": self.step,
            "running_loss": self.running_loss,
            "epoch_loss": self.epoch_loss,
            "final_loss": self.final_loss,
            "torch_rng": torch.get_rng_state(),
        })

    def restore(self) -> None:
        path, settings = self.checkpoint, self.settings
        if not path.exists():
            raise UsageError(f"--resume: no checkpoint at {path}; start without --resume")
        state = load_checkpoint(path)
        saved = state["settings"]
        different = [f"{key} {saved.get(key)} (now {getattr(settings, key)})"
                     for key in RESUME_KEYS if saved.get(key) != getattr(settings, key)]
        if different:
            raise UsageError(f"--resume: {path} was made with " + ", ".join(different)
                             + "; use the same options to resume")
        if state["epoch"] > settings.epochs:
            raise UsageError(f"--resume: {path} already trained {state['epoch']} epochs; "
                             "ask for at least that many with --epochs")
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        torch.set_rng_state(state["torch_rng"])
        self.epoch, self.step = int(state["epoch"]), int(state["step"])
        self.running_loss, self.epoch_loss = float(state["running_loss"]), float(state["epoch_loss"])
        self.final_loss = float(state["final_loss"])


@contextlib.contextmanager
def _onednn(enabled: bool) -> Iterator[None]:
    previous = torch.backends.mkldnn.enabled
    torch.backends.mkldnn.enabled = enabled
    try:
        yield
    finally:
        torch.backends.mkldnn.enabled = previous
