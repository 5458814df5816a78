"""Where a training run runs and whom it tells: device, processes, progress, stop requests, clock."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import torch

from cifarctl.events import Events
from cifarctl.training.distributed import ALONE, Cluster
from cifarctl.training.metrics import MetricsSink


def never() -> bool:
    return False


def ignore_epoch(epoch: int, share_done: float, accuracy: float | None) -> None:
    """The default `epoch_ended`: nobody is listening."""


@dataclass(frozen=True)
class Context:
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    cluster: Cluster = ALONE  # torchrun's processes, or this one alone
    events: Events = field(default_factory=Events)  # progress and lines, drawn by the CLI
    should_stop: Callable[[], bool] = never  # a stop request (Ctrl-C, SIGTERM): save and stop
    metrics_sink: MetricsSink | None = None  # somewhere else the metrics go too (TensorBoard)
    started: float | None = None  # perf_counter() at process start: a time budget counts from there
    # Told at every epoch's end, after its checkpoint is saved, on every rank: the epoch's number
    # (1-based, as the epoch line prints it), the share of the run's steps done, and its held-out
    # accuracy (None where --eval-every did not measure, and on ranks other than 0). What it
    # raises ends the run there (`tune` prunes so).
    epoch_ended: Callable[[int, float, float | None], None] = ignore_epoch


@dataclass(frozen=True)
class ResumePolicy:
    """What to do with the checkpoint of an earlier run on the same output."""

    resume: bool = False  # continue it
    restart: bool = False  # start over even if it is unfinished
    allow_other_data: bool = False  # continue it even on other data
