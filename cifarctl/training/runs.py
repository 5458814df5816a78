"""What `cifarctl train` does around its runs, the same for one run and for a sweep of them.

Before any long work: every output is checked, locked for the command's life and sized
against the free space. Then the data (downloaded if allowed, a validation split held out),
stop signals turned into a saved checkpoint, and the errors worded for what happened to
the files. One run returns a `TrainResult`; seeds or a grid return a `SweepResult`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cifarctl.atomic_writes import WriteError
from cifarctl.data.acquire import ensure_dataset
from cifarctl.data.catalog import Place
from cifarctl.data.guards import check_output_file
from cifarctl.data.memory import Split, load_split
from cifarctl.devices import resolve_device
from cifarctl.errors import Interrupted, UsageError
from cifarctl.events import Events
from cifarctl.interrupts import StopRequest
from cifarctl.locks import exclusive_lock
from cifarctl.models import ModelInfo, expected_shapes
from cifarctl.output_paths import check_free_space, check_outputs_distinct
from cifarctl.path_kinds import resolved
from cifarctl.training.context import Context, ResumePolicy
from cifarctl.training.data_fit import DataFit, fit_to_data
from cifarctl.training.distributed import Cluster, cluster_from_environment, device_for, join, leave, on_main
from cifarctl.training.loop import train
from cifarctl.training.result import TrainResult
from cifarctl.training.run_files import RunFiles
from cifarctl.training.settings import TrainSettings
from cifarctl.training.sweep import SweepResult, run_sweep
from cifarctl.training.sweep_plan import PlannedRun


@dataclass(frozen=True)
class TrainingRequest:
    settings: TrainSettings
    runs: tuple[PlannedRun, ...]  # one run, or every seed (and grid value) of a sweep
    sweep: bool  # several seeds or grid values: each run measured, then compared
    grid_option: str | None  # the recipe field a grid varies ("lr"), or None
    place: Place  # the data dir and dataset
    device: str  # as --device names it
    policy: ResumePolicy = ResumePolicy()
    val_split: str | None = None  # --val-split: hold out this many training images
    val_seed: int = 0
    allow_download: bool = True
    tensorboard: Path | None = None
    fit: DataFit = DataFit()  # what is fitted to the data: the batch, the rate, the class weights
    init_from: Path | None = None  # --init-from: a model file to start from
    freeze_backbone: bool = False  # --freeze-backbone: only the head of that model trains
    size_given: bool = True  # a size option was given; without one, --init-from's file gives the size


def train_runs(request: TrainingRequest, events: Events, started: float | None = None,
               announce: Callable[[int, PlannedRun], None] = lambda index, run: None) -> TrainResult | SweepResult:
    """Train the request's run(s); under torchrun, every process calls this."""
    check_outputs(request)
    cluster = cluster_from_environment()
    if request.sweep and cluster.distributed:
        raise UsageError("--seeds, --repeats and several --lr values run one process; start them without torchrun")
    with contextlib.ExitStack() as owned:
        if cluster.is_main:
            for run in request.runs:  # a second command on the same files is refused at once
                owned.enter_context(owned_by_this_run(run.files))
            check_free_space(request.runs[0].files.output.parent,
                             len(request.runs) * space_needed(request.settings, request.runs[0].files),
                             f"training {request.settings.model}")
        device = device_for(cluster, resolve_device(request.device))
        join(cluster, device)
        finished = False
        try:
            result = _train_with_data(request, cluster, device, events if cluster.is_main else Events(), started,
                                      announce)
            finished = True
        finally:
            leave(together=finished)
    return result


def _train_with_data(request: TrainingRequest, cluster: Cluster, device, events: Events, started: float | None,
                     announce: Callable[[int, PlannedRun], None]) -> TrainResult | SweepResult:
    from cifarctl.training.init_from import read_start

    start = read_start(request.init_from, request.settings, request.size_given) if request.init_from else None
    on_main(lambda: ensure_dataset(request.place, allow_download=request.allow_download, events=events), cluster)
    resumed = [run.files for run in request.runs] if request.policy.resume else []
    settings = request.settings if start is None else dataclasses.replace(request.settings,
                                                                         options=dict(start.info.options))
    data, validation, settings = held_out(load_split(request.place, "train"), settings, request.val_split,
                                          request.val_seed, resumed, cluster)
    settings = fit_to_data(settings, data, cluster.world_size, request.fit)
    if start is not None:
        settings = _started_from(start, request, data, settings, events)
    measured_on = validation
    if measured_on is None and (request.sweep or settings.eval_every):
        measured_on = load_split(request.place, "test")
        if request.sweep:
            events.warning("no validation split: every run is measured on the test split, so do not choose "
                           "settings by these numbers; hold one out with --val-split")
    with StopRequest() as stop, _worded_for_the_files(stop, request.runs):
        context = Context(device=device, cluster=cluster, events=events, should_stop=stop,
                          metrics_sink=_tensorboard(request.tensorboard, cluster), started=started)
        if request.sweep:
            return run_sweep(settings, list(request.runs), request.grid_option, data, measured_on, request.policy,
                             context, announce)
        result = train(settings, data, request.runs[0].files, measured_on, request.policy, context)
    return _with_class_scores(result, settings, data, validation, request, cluster, device)


def _started_from(start, request: TrainingRequest, data: Split, settings: TrainSettings,
                  events: Events) -> TrainSettings:
    """The settings recording --init-from's file (checked against the data), said in one line."""
    from cifarctl.training.init_from import describe_start, start_record

    record = start_record(request.init_from, start, data, request.freeze_backbone)
    events.message(describe_start(record, start.classes, data))
    return dataclasses.replace(settings, init_from=record)


def _with_class_scores(result: TrainResult, settings: TrainSettings, data: Split, validation: Split | None,
                       request: TrainingRequest, cluster: Cluster, device) -> TrainResult:
    """On imbalanced data, the finished model's macro-F1 and per-class recall on the held-out
    split (the validation split, else the test split), as `evaluate` measures them."""
    from cifarctl.training.class_report import measure_classes, reports_classes

    if not cluster.is_main or not reports_classes(settings, data):
        return result
    held = validation if validation is not None else load_split(request.place, "test")
    return dataclasses.replace(result, class_scores=measure_classes(result.output, held, device))


def check_outputs(request: TrainingRequest) -> None:
    """Fail before any long work when an output of any run cannot be written where it is asked."""
    data_dir = request.place.data_dir
    for run in request.runs:
        for path, what in ((run.files.output, ""), (run.files.checkpoint, " (its checkpoint)"),
                           (run.files.metrics, " (its metrics log)")):
            check_output_file(path, f"--output{what}", data_dir=data_dir)
    if request.tensorboard is not None:
        if request.sweep:
            raise UsageError("--tensorboard follows one run; drop it for --seeds, --repeats or several --lr values")
        files = request.runs[0].files
        check_outputs_distinct([(files.output, "--output"), (files.checkpoint, "--output (its checkpoint)"),
                                (files.metrics, "--output (its metrics log)"), (request.tensorboard, "--tensorboard")],
                               folders=["--tensorboard"])


def owned_by_this_run(files: RunFiles):
    """A lock beside the run's files, held while it trains; a second run on them is refused at once."""
    checkpoint = resolved(files.checkpoint, "--output")
    return exclusive_lock(
        checkpoint.with_name(f".{checkpoint.name}.lock"), remove=True,
        busy=f"another training run ({{holder}}) is writing {files.output}, its checkpoint and its metrics log; "
             "wait for it to finish, or choose another --output")


def space_needed(settings: TrainSettings, files: RunFiles) -> int:
    """Bytes one run will add to its folder at the most: a checkpoint written beside the one it
    replaces (weights, optimiser state and averaged weights: about 3x the weights), the model
    file, and room for the metrics log."""
    info = ModelInfo(settings.model, settings.options, len(settings.classes))
    weights = 4 * sum(math.prod(shape) for shape in expected_shapes(info).values())
    checkpoint = 3 * weights + (1 << 20)
    try:
        replaced = files.checkpoint.stat().st_size
    except OSError:
        replaced = 0
    return weights + checkpoint + max(0, checkpoint - replaced) + (8 << 20)


def held_out(data: Split, settings: TrainSettings, val_split: str | None, val_seed: int,
             checkpoints_to_resume: list[RunFiles], cluster: Cluster) -> tuple[Split, Split | None, TrainSettings]:
    """The training images to train on, the validation split (or None), and the settings recording it.

    Without --val-split, a resumed run holds out what its checkpoint recorded, so `--resume`
    needs no repeat of the option.
    """
    from cifarctl.data.validation import ValidationSplit, rebuild, split_off, validation_size
    from cifarctl.training.checkpoint import recorded_validation

    if val_split is not None:
        data, validation, record = split_off(data, validation_size(val_split, len(data)), val_seed)
    else:
        recorded = on_main(lambda: next((found for files in checkpoints_to_resume
                                         if (found := recorded_validation(files))), None), cluster)
        if recorded is None:
            return data, None, settings
        record = ValidationSplit.from_dict(recorded[1], str(recorded[0]))
        data, validation = rebuild(data, record, str(recorded[0]))
    return data, validation, dataclasses.replace(settings, validation=record.as_dict())


def _tensorboard(folder: Path | None, cluster: Cluster) -> Any:
    if folder is None or not cluster.is_main:
        return None
    from cifarctl.training.tensorboard import TensorBoardSink

    return TensorBoardSink(folder)


@contextlib.contextmanager
def _worded_for_the_files(stop: StopRequest, runs: tuple[PlannedRun, ...]) -> Iterator[None]:
    """A stop says which signal it was (and exits with its code); a failed write says whether the
    last checkpoint is safe."""
    before = {run.files.checkpoint: _modified(run.files.checkpoint) for run in runs}
    try:
        yield
    except Interrupted as error:
        raise stop.reworded(error) from None
    except WriteError as error:
        written = [files for files in (run.files for run in runs)
                   if files.checkpoint.is_file() and _modified(files.checkpoint) != before[files.checkpoint]]
        if not written:
            raise  # no checkpoint of this command to speak of
        raise WriteError(f"{error}; the last checkpoint ({written[-1].checkpoint}) was kept: rerun the same "
                         "command with --resume once there is room", error.errno) from None


def _modified(path: Path) -> int | None:
    try:
        return path.stat().st_mtime_ns
    except OSError:
        return None
