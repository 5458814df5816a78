"""The Optuna side of `tune`: the database and the study in it, what the study belongs to, and its trials read back.

A study records what its trials measure (model, dataset, the validation split, each trial's
length, the training seed) when it is made, and `tune` refuses to continue it with anything
else: trials of another kind would be compared as if they were alike. Optuna is an optional
extra; it is imported here only, when a study is opened.
"""

from __future__ import annotations

import os
import re
import socket
import warnings
from pathlib import Path
from typing import Any

from cifarctl.errors import CifarctlError, UsageError
from cifarctl.models.search_space import Dimension
from cifarctl.training.tune_result import TrialRecord

OPTUNA_HINT = "cifarctl tune needs Optuna, an optional extra: pip install 'cifarctl[tune]'"
IDENTITY = "cifarctl"  # the study's user attribute that says what it tunes
PRUNERS = ("median", "hyperband", "none")
STATES = {"COMPLETE": "complete", "PRUNED": "pruned", "FAIL": "failed", "RUNNING": "running", "WAITING": "waiting"}
URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")


def optuna_module():
    """Optuna, quiet (the command reports every trial itself), or one line naming the extra."""
    try:
        import optuna
    except ImportError:
        raise CifarctlError(OPTUNA_HINT) from None
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    return optuna


def sqlite_path(url: str) -> Path | None:
    """The file of a `sqlite:///FILE` URL (None for other databases)."""
    if not url.startswith("sqlite:///"):
        return None
    return Path(url.removeprefix("sqlite:///"))


def check_storage_url(url: str) -> None:
    if not URL.match(url) or (url.startswith("sqlite:") and not url.startswith("sqlite:///")):
        raise UsageError(f"--storage {url!r} is not a database URL; use sqlite:///tune.db (a file beside you) "
                         "or another SQLAlchemy URL")
    path = sqlite_path(url)
    if path is not None and (str(path) in ("", ":memory:") or path.is_dir()):
        raise UsageError(f"--storage {url!r} names no file for the study to live in; use sqlite:///tune.db")


def open_storage(url: str) -> Any:
    """Optuna's RDB storage at `url` (a SQLite file waits up to a minute for another process's write)."""
    optuna = optuna_module()
    check_storage_url(url)
    path = sqlite_path(url)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
    engine = {"connect_args": {"timeout": 60}} if path is not None else None
    try:
        return optuna.storages.RDBStorage(url, engine_kwargs=engine)
    except ImportError as error:
        raise CifarctlError(f"--storage {url}: its database driver is not installed ({error.name}); install it, "
                            "or use sqlite:///tune.db") from None
    except Exception as error:  # SQLAlchemy's errors: a locked, damaged or unreachable database
        detail = " ".join(str(error).split())[:160]
        raise CifarctlError(f"cannot open the study database {url}: {detail}") from None


def make_pruner(name: str) -> Any:
    """Optuna's median rule or Hyperband with their defaults, or no pruning."""
    optuna = optuna_module()
    if name == "median":
        return optuna.pruners.MedianPruner()
    if name == "hyperband":
        return optuna.pruners.HyperbandPruner()
    if name == "none":
        return optuna.pruners.NopPruner()
    raise UsageError(f"--pruner {name!r}: choose one of {', '.join(PRUNERS)}")


def make_sampler(seed: int, trials_before: int, worker: int = 0) -> Any:
    """TPE, seeded from --seed and where the study stands, so a resumed study does not repeat its first
    random trials and parallel processes do not draw the same ones."""
    seed = (seed * 1_000_003 + trials_before * 7919 + worker * 104_729) % 2**32
    return optuna_module().samplers.TPESampler(seed=seed)


def open_study(storage: Any, url: str, name: str, identity: dict[str, Any], sampler: Any = None,
               pruner: Any = None) -> Any:
    """The study `name` in `storage`, made for `identity` if new; one that belongs to something else is refused."""
    optuna = optuna_module()
    try:
        study = optuna.create_study(storage=storage, study_name=name, direction="maximize", sampler=sampler,
                                    pruner=pruner, load_if_exists=True)
    except ValueError as error:  # an existing study that minimises, or has several objectives
        raise UsageError(f"study {name!r} in {url} was not made by cifarctl tune ({error}); choose another "
                         "--study") from None
    recorded = study.user_attrs.get(IDENTITY)
    if recorded is None:
        if study.get_trials(deepcopy=False):
            raise UsageError(f"study {name!r} in {url} was not made by cifarctl tune; choose another --study")
        study.set_user_attr(IDENTITY, identity)
        return study
    problem = identity_problem(recorded, identity)
    if problem:
        raise UsageError(f"study {name!r} in {url} {problem}")
    return study


def identity_problem(recorded: dict[str, Any], wanted: dict[str, Any]) -> str | None:
    """What makes a study's trials unlike the ones asked for, worded as the end of one line; None if alike."""
    if (recorded.get("model"), recorded.get("dataset")) != (wanted["model"], wanted["dataset"]):
        return (f"tunes {recorded.get('model')} on {recorded.get('dataset')}, not {wanted['model']} on "
                f"{wanted['dataset']}; choose another --study (or --storage)")
    if recorded.get("length") != wanted["length"]:
        return (f"trains each trial for {describe_length(recorded.get('length'))}, not "
                f"{describe_length(wanted['length'])}; ask for the same, or choose another --study")
    held, asked = recorded.get("validation") or {}, wanted["validation"]
    if any(held.get(key) != asked[key] for key in ("size", "seed", "of", "fingerprint")):
        return (f"measures its trials on {held.get('size')} images held out of {held.get('of')} with --val-seed "
                f"{held.get('seed')}, not these; rerun with the same --val-split and --val-seed (and data), or "
                "choose another --study")
    if recorded.get("precision") != wanted["precision"]:
        given = recorded.get("precision")
        asked = f"--precision {given}" if given else "no --precision"
        return (f"trains its trials with {asked if given else 'the precision of the recipe'}; rerun with {asked}, "
                "or choose another --study")
    if recorded.get("seed") != wanted["seed"]:
        return (f"trains every trial with seed {recorded.get('seed')}; rerun with --seed {recorded.get('seed')} "
                "(or without --seed), or choose another --study")
    return None


def describe_length(length: dict[str, Any] | None) -> str:
    from cifarctl.durations import format_duration

    length = length or {}
    if length.get("time_budget") is not None:
        return f"--time-budget {format_duration(length['time_budget'])}"
    if length.get("steps") is not None:
        return f"--steps {length['steps']}"
    return f"--epochs {length.get('epochs'):g}" if length.get("epochs") is not None else "the recipe's epochs"


def recorded_seed(storage: Any, name: str) -> int | None:
    """The training seed of an existing cifarctl study, so a rerun without --seed continues it."""
    optuna = optuna_module()
    try:
        study = optuna.load_study(study_name=name, storage=storage)
    except KeyError:  # no such study yet
        return None
    seed = (study.user_attrs.get(IDENTITY) or {}).get("seed")
    return seed if isinstance(seed, int) else None


def mark_running(trial: Any, fixed: dict[str, Any], output: Path) -> None:
    """What a running trial records beside Optuna's own: its fixed settings, its model file, and which
    process on which machine runs it (to tell an abandoned trial from one still running)."""
    trial.set_user_attr("fixed", fixed)
    trial.set_user_attr("output", str(output))
    trial.set_user_attr("host", socket.gethostname())
    trial.set_user_attr("pid", os.getpid())


def fail_abandoned_trials(study: Any) -> list[int]:
    """Trials left running by a process of this machine that no longer runs (killed, crashed): failed,
    so they stop counting as running. Trials of other machines are theirs to settle."""
    optuna = optuna_module()
    failed = []
    for trial in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,)):
        pid, host = trial.user_attrs.get("pid"), trial.user_attrs.get("host")
        if host == socket.gethostname() and isinstance(pid, int) and (pid == os.getpid() or not _alive(pid)):
            study.tell(trial.number, state=optuna.trial.TrialState.FAIL, skip_if_finished=True)
            failed.append(trial.number)
    return failed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def count_states(study: Any) -> dict[str, int]:
    counts: dict[str, int] = {}
    for trial in study.get_trials(deepcopy=False):
        state = STATES.get(trial.state.name, trial.state.name.lower())
        counts[state] = counts.get(state, 0) + 1
    return counts


def record_of(trial: Any) -> TrialRecord:
    """A frozen Optuna trial as `tune` reports it."""
    state = STATES.get(trial.state.name, trial.state.name.lower())
    seconds = None
    if trial.datetime_start is not None and trial.datetime_complete is not None:
        seconds = (trial.datetime_complete - trial.datetime_start).total_seconds()
    note = trial.user_attrs.get("note", "")
    if state == "failed" and not note:
        note = "abandoned: its process ended without saying why"
    value = trial.value if state in ("complete", "pruned") else None
    return TrialRecord(trial.number, state, dict(trial.params), dict(trial.user_attrs.get("fixed", {})), value,
                       tuple(sorted((int(step), float(value)) for step, value in trial.intermediate_values.items())),
                       seconds, trial.user_attrs.get("output") if state == "complete" else None, note,
                       int(trial.user_attrs.get("epochs", len(trial.intermediate_values))))


def trial_records(study: Any) -> list[TrialRecord]:
    return [record_of(trial) for trial in study.get_trials(deepcopy=False)]


def importances(study: Any) -> dict[str, float] | None:
    """Each searched setting's share of what decides validation accuracy, by PED-ANOVA over the complete
    trials (Optuna 5's default: no random forest, no scikit-learn, the same numbers every time); None
    while too few are complete to tell the best from the rest, or nothing varied."""
    optuna = optuna_module()
    complete = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
    if len(complete) < 2 or not any(trial.params for trial in complete):
        return None
    with warnings.catch_warnings(record=True) as said:
        warnings.simplefilter("always")
        try:
            found = optuna.importance.get_param_importances(
                study, evaluator=optuna.importance.PedAnovaImportanceEvaluator())
        except (ValueError, RuntimeError, ZeroDivisionError, ImportError):
            return None
    if any("importances will be equal" in str(warning.message).lower() for warning in said):
        return None  # too few trials to tell the best from the rest: the shares would be made up
    return {name: float(value) for name, value in found.items()}


def suggest(trial: Any, dimension: Dimension) -> Any:
    """The trial's value of one searched dimension."""
    if dimension.choices:
        return trial.suggest_categorical(dimension.name, list(dimension.choices))
    if dimension.integer:
        return trial.suggest_int(dimension.name, int(dimension.low), int(dimension.high),
                                 step=int(dimension.step or 1), log=dimension.log)
    return trial.suggest_float(dimension.name, dimension.low, dimension.high, step=dimension.step, log=dimension.log)
