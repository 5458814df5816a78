"""`cifarctl tune`: an Optuna study of a family's settings, each trial a training run measured on the validation split.

The set-up is `train`'s (the dataset made sure of, the training split loaded, a validation split
held out, stop signals turned into a saved state, torchrun's processes joined); the test split
is never loaded. Then trial after trial until the study holds `--trials` finished ones: Optuna's
sampler (TPE, seeded) picks the settings, the trial trains with every trial's seed, reports its
validation accuracy at each epoch's end (where the pruner may stop it) and, finished, the
accuracy of its model as `evaluate --split val` would measure it. The best settings are then
trained again on fresh seeds for a 95 % interval (and the recipe's defaults beside them, if
asked). Under torchrun, rank 0 talks to Optuna and every rank trains each trial together.
"""

from __future__ import annotations

import contextlib
import dataclasses
import random
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cifarctl.data.acquire import ensure_dataset
from cifarctl.data.catalog import Place
from cifarctl.data.memory import load_split
from cifarctl.devices import resolve_device
from cifarctl.errors import Interrupted, UsageError
from cifarctl.interrupts import StopRequest
from cifarctl.models import registry
from cifarctl.models.search_space import Dimension, settings_of
from cifarctl.training import study as studies
from cifarctl.training.context import Context
from cifarctl.training.distributed import (
    ALONE,
    Cluster,
    cluster_from_environment,
    device_for,
    join,
    leave,
    on_main,
    stop_agreed,
)
from cifarctl.training.runs import held_out
from cifarctl.training.settings import TrainSettings
from cifarctl.training.trials import Bench, RunBase, confirm, run_trial, trial_name
from cifarctl.training.tune_events import StudyEvents, StudyOpened
from cifarctl.training.tune_result import TuneResult, rounded_settings

MAX_TRIALS = 10_000


@dataclass(frozen=True)
class TuneRequest:
    model: str
    space: tuple[Dimension, ...]
    trials: int  # finished (complete or pruned) trials the study should hold
    place: Place
    storage: str  # a database URL (sqlite:///tune.db)
    study: str
    folder: Path  # where the trials' files go
    device: str = "auto"
    seed: int | None = None  # every trial's training seed (None: the study's, or a fresh one)
    time_budget: float | None = None  # each trial's length: a budget, a step count, or epochs
    steps: int | None = None
    epochs: float | None = None
    val_split: str = "0.1"
    val_seed: int = 0
    pruner: str = "median"
    confirm_seeds: int = 3
    compare_defaults: bool = False
    jobs: int = 1
    threads: int | None = None
    precision: str | None = None
    allow_download: bool = True

    @property
    def length(self) -> dict[str, Any]:
        return {"time_budget": self.time_budget, "steps": self.steps, "epochs": self.epochs}


def tune(request: TuneRequest, events: StudyEvents = StudyEvents()) -> TuneResult:
    """Run the study to `request.trials` finished trials, confirm the best; under torchrun every process calls this."""
    studies.optuna_module()  # before any work: one line naming the extra when Optuna is missing
    check_request(request)
    cluster = cluster_from_environment()
    if cluster.distributed and request.jobs > 1:
        raise UsageError("--jobs starts processes of its own; under torchrun every trial already uses all of "
                         "them: drop --jobs")
    device = device_for(cluster, resolve_device(request.device))
    join(cluster, device)
    finished = False
    try:
        result = _tune(request, cluster, device, events if cluster.is_main else StudyEvents())
        finished = True
    finally:
        leave(together=finished)
    return result


def check_request(request: TuneRequest) -> None:
    from cifarctl.cpu_threads import cores_available

    if not 1 <= request.trials <= MAX_TRIALS:
        raise UsageError(f"--trials {request.trials}: give a number of trials from 1 to {MAX_TRIALS}")
    if request.confirm_seeds and request.confirm_seeds < 3:
        raise UsageError(f"--confirm-seeds {request.confirm_seeds}: a 95 % interval needs at least 3 seeds; "
                         "give 3 or more, or 0 to skip the re-runs")
    if request.compare_defaults and not request.confirm_seeds:
        raise UsageError("--compare-defaults re-runs the recipe's defaults beside the best settings; give "
                         "--confirm-seeds 3 or more with it")
    cores = cores_available()
    threads = request.threads or 1
    if request.jobs * threads > cores:
        raise UsageError(f"--jobs {request.jobs}" + (f" x --threads {request.threads}" if request.threads else "")
                         + f" needs {request.jobs * threads} cores; this machine has {cores}: ask for fewer")
    studies.check_storage_url(request.storage)
    studies.make_pruner(request.pruner)


def check_outputs(request: TuneRequest) -> None:
    """Before any long work: the trials' folder and the study's file are writable where asked,
    outside any dataset, with room for the runs that may exist at once."""
    from cifarctl.data.guards import check_output_file, check_output_outside_dataset, check_outside_any_dataset
    from cifarctl.output_paths import check_free_space
    from cifarctl.training.runs import space_needed
    from cifarctl.training.trials import RunBase

    data_dir = request.place.data_dir
    files = RunBase.files_in(request.folder, trial_name(0))
    check_outside_any_dataset(files.output, "--output-dir")
    check_output_outside_dataset(files.output, data_dir, "--output-dir")
    try:
        request.folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise UsageError(f"--output-dir: cannot make {request.folder} ({error.strerror}); choose another") from None
    check_output_file(files.output, "--output-dir", data_dir=data_dir)
    database = studies.sqlite_path(request.storage)
    if database is not None:
        check_output_file(database, "--storage", data_dir=data_dir)
    family = registry.get(request.model)
    largest = {dimension.name: max(dimension.choices) if dimension.choices else dimension.high
               for dimension in request.space if family.option(dimension.name) is not None}
    settings = TrainSettings.for_model(request.model, {name: int(value) for name, value in largest.items()})
    existing = next(folder for folder in (request.folder.absolute(), *request.folder.absolute().parents)
                    if folder.exists())
    check_free_space(existing, (request.jobs + 1) * space_needed(settings, files), f"tuning {request.model}")


def _tune(request: TuneRequest, cluster: Cluster, device, events: StudyEvents) -> TuneResult:
    on_main(lambda: check_outputs(request), cluster)  # a refusal reaches every process
    on_main(lambda: ensure_dataset(request.place, allow_download=request.allow_download, events=events), cluster)
    base_settings = TrainSettings.for_model(request.model, dataset=request.place.spec.name)
    data, validation, measured = held_out(load_split(request.place, "train"), base_settings, request.val_split,
                                          request.val_seed, [], cluster)
    threads = request.threads if request.threads or request.jobs == 1 else max(1, _cores() // request.jobs)
    handle = StudyHandle(request)
    opened = on_main(lambda: handle.open(data.classes.names, measured.validation, len(data), len(validation),
                                         threads), cluster)
    events.study_opened(dataclasses.replace(opened, processes=cluster.world_size))
    base = RunBase(request.model, opened.seed, request.time_budget, request.steps, request.epochs, threads,
                   request.precision, request.place.spec.name, measured.validation)
    with StopRequest() as stop, _worded(stop):
        bench = Bench(base, data, validation, Context(device=device, cluster=cluster, events=events,
                                                      should_stop=stop), request.folder)
        if request.jobs > 1:
            from cifarctl.training.tune_jobs import run_in_processes

            ran = run_in_processes(request, opened.seed, threads, handle, events, stop)
            # The re-runs come after the workers, one at a time: each takes the whole machine again.
            bench = dataclasses.replace(bench, base=dataclasses.replace(base, threads=request.threads))
        else:
            ran = run_trials(bench, handle, request.space, events)
        return conclude(bench, handle, request, ran, events)


def run_worker(request: TuneRequest, worker: int) -> int:
    """One of `--jobs` processes: trials until the study holds enough, quietly (the parent reports them)."""
    base_settings = TrainSettings.for_model(request.model, dataset=request.place.spec.name)
    data, validation, measured = held_out(load_split(request.place, "train"), base_settings, request.val_split,
                                          request.val_seed, [], ALONE)
    handle = StudyHandle(request, worker=worker + 1)  # 0 is the parent's: it settles abandoned trials
    handle.open(data.classes.names, measured.validation, len(data), len(validation))
    base = RunBase(request.model, request.seed, request.time_budget, request.steps, request.epochs, request.threads,
                   request.precision, request.place.spec.name, measured.validation)
    with StopRequest() as stop, _worded(stop):
        bench = Bench(base, data, validation, Context(should_stop=stop, device=resolve_device(request.device)),
                      request.folder)
        return run_trials(bench, handle, request.space, StudyEvents())


class StudyHandle:
    """The study as rank 0 (or the only process) holds it: the storage, the study, the trial running."""

    def __init__(self, request: TuneRequest, worker: int = 0) -> None:
        self.request, self.worker = request, worker
        self.study: Any = None
        self.current: Any = None  # Optuna's running trial

    def open(self, classes: tuple[str, ...], validation: dict[str, Any], train_images: int, held: int,
             threads: int | None = None) -> StudyOpened:
        request = self.request
        storage = studies.open_storage(request.storage)
        seed = request.seed
        if seed is None:
            seed = studies.recorded_seed(storage, request.study)
        if seed is None:
            seed = random.randrange(2**31)
        identity = {"model": request.model, "dataset": request.place.spec.name, "classes": len(classes),
                    "validation": validation, "length": request.length, "seed": seed,
                    "precision": request.precision}
        self.study = studies.open_study(storage, request.storage, request.study, identity,
                                        pruner=studies.make_pruner(request.pruner))
        abandoned = studies.fail_abandoned_trials(self.study) if self.worker == 0 else []
        counts = studies.count_states(self.study)
        self.study.sampler = studies.make_sampler(seed, sum(counts.values()), self.worker)
        done = counts.get("complete", 0) + counts.get("pruned", 0)
        return StudyOpened(request.study, request.storage, request.model,
                           tuple(dimension.name for dimension in request.space if not dimension.fixed), counts,
                           max(0, request.trials - done - counts.get("running", 0)), request.trials, train_images,
                           held, studies.describe_length(request.length), request.pruner, seed, request.jobs,
                           threads, tuple(abandoned))

    def ask(self) -> tuple[int, dict[str, Any], dict[str, Any]] | None:
        """The next trial's number, searched and fixed settings; None once the study holds enough."""
        counts = studies.count_states(self.study)
        if counts.get("complete", 0) + counts.get("pruned", 0) + counts.get("running", 0) >= self.request.trials:
            return None
        trial = self.study.ask()
        params = {dimension.name: studies.suggest(trial, dimension) for dimension in self.request.space
                  if not dimension.fixed}
        fixed = {dimension.name: dimension.choices[0] for dimension in self.request.space if dimension.fixed}
        studies.mark_running(trial, fixed, self.request.folder / f"{trial_name(trial.number)}.pth")
        self.current = trial
        return trial.number, params, fixed

    def tell(self, state: str, value: float | None, note: str):
        optuna = studies.optuna_module()
        trial, self.current = self.current, None
        if note:
            trial.set_user_attr("note", note)
        if state == "complete":
            frozen = self.study.tell(trial, value)
        else:
            states = optuna.trial.TrialState
            frozen = self.study.tell(trial, state=states.PRUNED if state == "pruned" else states.FAIL)
        return studies.record_of(frozen)


def run_trials(bench: Bench, handle: StudyHandle, space: tuple[Dimension, ...], events: StudyEvents) -> int:
    """Trials one after another until the study holds enough; how many this process ran."""
    cluster = bench.context.cluster
    ran = 0
    while True:
        if stop_agreed(bench.context.should_stop, 0, cluster, at_once=True):
            raise Interrupted("interrupted between trials; every finished trial is kept: rerun the same command "
                              "to continue the study")
        plan = on_main(handle.ask, cluster)
        if plan is None:
            return ran
        number, params, fixed = plan
        events.trial_started(number, {**fixed, **params})
        try:
            outcome = run_trial(bench, number, {**fixed, **params}, handle.current if cluster.is_main else None)
        except BaseException as error:
            if cluster.is_main:
                events.trial_ended(handle.tell("failed", None, _failure_note(error)))
            if isinstance(error, Interrupted):
                raise Interrupted(f"interrupted during trial {number}, which the study keeps as failed; every "
                                  "finished trial is kept: rerun the same command to continue the study") from None
            raise
        record = on_main(lambda outcome=outcome: handle.tell(outcome.state, outcome.value, outcome.note), cluster)
        events.trial_ended(record)
        ran += 1


def _failure_note(error: BaseException) -> str:
    if isinstance(error, Interrupted):
        return "interrupted"
    return f"{type(error).__name__}: {' '.join(str(error).split())[:200]}"


def conclude(bench: Bench, handle: StudyHandle, request: TuneRequest, ran: int, events: StudyEvents) -> TuneResult:
    """The study's trials, the best settings confirmed over fresh seeds (and the defaults beside them), importances."""
    cluster, seed = bench.context.cluster, bench.base.seed
    records = on_main(lambda: studies.trial_records(handle.study), cluster)
    result = TuneResult(request.study, request.storage, request.model, request.place.spec.name, seed, request.space,
                        request.length, bench.base.validation, request.pruner, request.jobs, records, ran,
                        request.folder, len(bench.data.classes.names),
                        defaults_of_recipe=recipe_defaults(request.model, request.space))
    best = result.best
    if best is None:
        return result
    order = [dimension.name for dimension in request.space]
    result.best_settings = rounded_settings(dict(sorted(best.settings.items(), key=lambda item: order.index(item[0])
                                                        if item[0] in order else len(order))))
    seeds = [seed + offset for offset in range(1, request.confirm_seeds + 1)]
    if seeds:
        events.confirming("best", result.best_settings, seeds)
        result.confirmed = confirm(bench, "best", result.best_settings, seeds, trial_name(best.number))
    if seeds and request.compare_defaults:
        events.confirming("defaults", {}, seeds)
        result.defaults = confirm(bench, "defaults", {}, seeds, "defaults")
    result.importances = on_main(lambda: studies.importances(handle.study), cluster)
    return result


def recipe_defaults(model: str, space: tuple[Dimension, ...]) -> dict[str, Any]:
    """Each searched setting's value in the family's recipe (or its option's default)."""
    family = registry.get(model)
    known = settings_of(family)
    found = {}
    for dimension in space:
        if dimension.name in known:
            option = family.option(dimension.name)
            found[dimension.name] = option.default if option is not None else getattr(family.recipe, dimension.name)
    return found


def _cores() -> int:
    from cifarctl.cpu_threads import cores_available

    return cores_available()


@contextlib.contextmanager
def _worded(stop: StopRequest) -> Iterator[None]:
    """A stop says which signal it was and exits with its code (SIGTERM: "terminated", 143)."""
    try:
        yield
    except Interrupted as error:
        raise stop.reworded(error) from None

