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
from cifarctl.distributed import Cluster, any_rank, broadcast, mean_over_ranks
from cifarctl.errors import CifarctlError, Interrupted, UsageError
from cifarctl.events import Events
from cifarctl.models import ModelInfo, build_model, count_parameters
from cifarctl.sgd import MomentumSGD

PROGRESS_INTERVAL_S = 0.25
# Up to this batch size on a CPU, oneDNN's per-call overhead outweighs its speed and
# PyTorch's plain convolution is faster (benchmarks/onednn_small_batches.py), and one
# thread is as fast as two while idle and far faster when another process wants the CPU
# (OpenMP's barriers then wait for a descheduled thread at every operation).
SMALL_CPU_BATCH = 8
STOP_CHECK_EVERY = 20  # under torchrun, ranks agree on a Ctrl-C every this many steps
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
    processes: int = 1  # torchrun's WORLD_SIZE; settings.batch_size is per process

    def as_json(self) -> dict[str, Any]:
        return {
            "config": asdict(self.settings),
            "model": {"name": self.model.name, **self.model.options, "parameters": self.parameters},
            "epochs": self.settings.epochs,
            "epochs_run": self.epochs_run,
            "steps": self.steps,
            "processes": self.processes,
            "global_batch_size": self.settings.batch_size * self.processes,
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
    cluster: Cluster | None = None,
) -> TrainResult:
    """Train, saving the checkpoint every epoch and on a stop request; write `output` at the end.

    Under torchrun (`cluster` given) every process calls this; `settings.batch_size` is per
    process, only rank 0 writes files, and all ranks stop and resume at the same step.
    """
    run = _Run(settings, device, checkpoint, cluster)
    if resume:
        run.restore()
        if run.epoch >= settings.epochs:
            events.message(f"{checkpoint} has already trained {run.epoch} epochs: nothing left to train, writing "
                           f"{output} from it (ask for more with --epochs)")
        else:
            events.message(f"resuming from {checkpoint} at epoch {run.epoch + 1}, mini-batch {run.step}")
    resumed_from = (run.epoch, run.step) if resume else None
    images = normalize(data.images.to(device))
    labels = data.labels.to(device)
    steps_per_epoch = math.ceil(len(labels) / run.global_batch)
    done_before = run.epoch * steps_per_epoch + run.step
    started = time.perf_counter()
    events.task_started(f"training {run.info.describe()}", settings.epochs * steps_per_epoch, unit="steps",
                        completed=done_before)
    try:
        with _small_batch_cpu_mode(device.type == "cpu" and settings.batch_size <= SMALL_CPU_BATCH):
            while run.epoch < settings.epochs:
                run.train_epoch(images, labels, events, should_stop)
                run.epoch, run.step = run.epoch + 1, 0
                run.save()
    finally:
        events.task_finished()
    seconds = time.perf_counter() - started
    if run.is_main:
        save_state(run.plain_model.state_dict(), output)
    return TrainResult(
        settings=settings,
        model=run.info,
        parameters=count_parameters(run.plain_model),
        epochs_run=settings.epochs - (resumed_from[0] if resumed_from else 0),
        steps=settings.epochs * steps_per_epoch - done_before,
        final_loss=run.final_loss,
        seconds=seconds,
        images_per_second=run.seen_images * run.world_size / seconds if seconds > 0 else 0.0,
        output=output,
        checkpoint=checkpoint,
        resumed_from=resumed_from,
        processes=run.world_size,
    )


class _Run:
    """One training run's model, optimiser and position: everything a checkpoint holds."""

    def __init__(self, settings: TrainSettings, device: torch.device, checkpoint: Path,
                 cluster: Cluster | None = None) -> None:
        self.settings = settings
        self.checkpoint = checkpoint
        self.cluster = cluster
        self.world_size = cluster.world_size if cluster else 1
        self.rank = cluster.rank if cluster else 0
        self.is_main = self.rank == 0
        self.global_batch = settings.batch_size * self.world_size
        self.info = ModelInfo(settings.model, {"width": settings.width})
        torch.manual_seed(settings.seed)
        self.plain_model = build_model(self.info).to(device)
        self.model = self.plain_model
        if cluster is not None:
            from torch.nn.parallel import DistributedDataParallel

            ids = [device.index] if device.type == "cuda" else None
            self.model = DistributedDataParallel(self.plain_model, device_ids=ids)
        self.optimizer = MomentumSGD(self.plain_model.parameters(), lr=settings.lr, momentum=settings.momentum)
        # Alone: the batch mean, as the tutorial. Under DDP, which averages gradients over
        # ranks: each rank's sum scaled so the average is the mean over the global batch,
        # exact even when the last global batch does not split evenly.
        self.criterion = nn.CrossEntropyLoss(reduction="mean" if cluster is None else "sum")
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
        steps = math.ceil(len(labels) / self.global_batch)
        started, last_progress = time.perf_counter(), time.monotonic()
        images_at_start = self.seen_images
        since_log = self.step % settings.log_every  # mini-batches in self.running_loss
        self.model.train()
        while self.step < steps:
            if self._stop_requested(should_stop):
                self.save()
                raise Interrupted(f"interrupted at epoch {self.epoch + 1}, mini-batch {self.step}; checkpoint saved "
                                  f"to {self.checkpoint}; rerun the same command with --resume to continue")
            global_batch = order[self.step * self.global_batch : (self.step + 1) * self.global_batch]
            batch = global_batch.tensor_split(self.world_size)[self.rank]
            self._train_step(images[batch], labels[batch], len(global_batch))
            self.step += 1
            since_log += 1
            if self.step % settings.log_every == 0:
                (running,) = mean_over_ranks([self.running_loss], self.cluster)
                events.message(f"[{self.epoch + 1}, {self.step:5d}] loss: {running / settings.log_every:.3f}")
                self.running_loss, since_log = 0.0, 0
            if time.monotonic() - last_progress >= PROGRESS_INTERVAL_S and since_log:
                last_progress = time.monotonic()
                rate = (self.seen_images - images_at_start) / (time.perf_counter() - started)
                events.task_advanced(self.epoch * steps + self.step,
                                     f"epoch {self.epoch + 1}/{settings.epochs}  loss {self.running_loss / since_log:.3f}  "
                                     f"{rate:,.0f} img/s")
        (epoch_loss,) = mean_over_ranks([self.epoch_loss], self.cluster)
        self.final_loss = epoch_loss / steps
        self.running_loss = self.epoch_loss = 0.0
        events.task_advanced((self.epoch + 1) * steps, f"epoch {self.epoch + 1}/{settings.epochs} done")

    def _stop_requested(self, should_stop: Callable[[], bool]) -> bool:
        """Alone: at once. Under DDP: agreed by all ranks every STOP_CHECK_EVERY steps."""
        if self.cluster is None:
            return should_stop()
        if self.step % STOP_CHECK_EVERY:
            return False
        return any_rank(should_stop(), self.cluster)

    def _train_step(self, inputs: torch.Tensor, targets: torch.Tensor, global_count: int) -> None:
        self.optimizer.zero_grad()
        loss = self.criterion(self.model(inputs), targets)
        if self.cluster is not None:
            loss = loss * (self.world_size / global_count)
        loss.backward()
        self.optimizer.step()
        value = loss.item()
        self.running_loss += value
        self.epoch_loss += value
        self.seen_images += len(targets)

    def save(self) -> None:
        """Write the checkpoint (rank 0); every rank must call this, to agree on the losses."""
        running_loss, epoch_loss = mean_over_ranks([self.running_loss, self.epoch_loss], self.cluster)
        if not self.is_main:
            return
        save_checkpoint(self.checkpoint, {
            "settings": asdict(self.settings),
            "world_size": self.world_size,
            "model": self.plain_model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "epoch": self.epoch,
            "step": self.step,
            "running_loss": running_loss,
            "epoch_loss": epoch_loss,
            "final_loss": self.final_loss,
            "torch_rng": torch.get_rng_state(),
        })

    def restore(self) -> None:
        """Load the checkpoint on rank 0 and hand it to every rank, so all continue alike."""
        state = self._read_checkpoint() if self.is_main else None
        state = broadcast(state, self.cluster)
        if isinstance(state, CifarctlError):
            raise state
        self.plain_model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        torch.set_rng_state(state["torch_rng"])
        self.epoch, self.step = int(state["epoch"]), int(state["step"])
        self.running_loss, self.epoch_loss = float(state["running_loss"]), float(state["epoch_loss"])
        self.final_loss = float(state["final_loss"])

    def _read_checkpoint(self) -> dict[str, Any] | CifarctlError:
        try:
            return self._checked_checkpoint()
        except CifarctlError as error:
            if self.cluster is None:
                raise
            return error  # handed to every rank, so all of them stop with the same message

    def _checked_checkpoint(self) -> dict[str, Any]:
        path, settings = self.checkpoint, self.settings
        if not path.exists():
            raise UsageError(f"--resume: no checkpoint at {path}; start without --resume")
        state = load_checkpoint(path)
        saved = state["settings"]
        if state.get("world_size", 1) != self.world_size:
            raise UsageError(f"--resume: {path} was made by {state.get('world_size', 1)} process(es), "
                             f"this run has {self.world_size}; resume with the same number")
        different = [f"{key} {saved.get(key)} (now {getattr(settings, key)})"
                     for key in RESUME_KEYS if saved.get(key) != getattr(settings, key)]
        if different:
            raise UsageError(f"--resume: {path} was made with " + ", ".join(different)
                             + "; use the same options to resume")
        if state["epoch"] > settings.epochs:
            raise UsageError(f"--resume: {path} already trained {state['epoch']} epochs; "
                             "ask for at least that many with --epochs")
        return state


@contextlib.contextmanager
def _small_batch_cpu_mode(active: bool) -> Iterator[None]:
    """Plain convolutions on one thread while training tiny batches on a CPU (see above)."""
    if not active:
        yield
        return
    onednn, threads = torch.backends.mkldnn.enabled, torch.get_num_threads()
    torch.backends.mkldnn.enabled = False
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.backends.mkldnn.enabled = onednn
        torch.set_num_threads(threads)
