"""The checkpoint of a training run: saved at epoch ends and on a stop, checked and restored on --resume.

Everything a bit-identical resume needs goes in: the weights, optimiser, schedule and
averaged weights (from `Parts`), the step, the RNG state, the running losses, how much of
the metrics log belongs to the checkpoint, and which data and output it was for. Reading
checks that the checkpoint belongs to this run before anything is built from it.
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import Any

import torch

from cifarctl.data.memory import Split
from cifarctl.errors import CheckpointError, CifarctlError, Interrupted, UsageError
from cifarctl.torch_files import (
    CHECKPOINT_FORMAT,
    CHECKPOINT_VERSION,
    is_checkpoint,
    load_state,
    save_state,
    version_problem,
)
from cifarctl.training.distributed import Cluster, on_main, stop_agreed
from cifarctl.training.parts import Parts
from cifarctl.training.run_files import RunFiles
from cifarctl.training.settings import TrainSettings
from cifarctl.training.state import RunState, dataset_identity, planned_steps

REQUIRED_KEYS = {"settings": dict, "world_size": int, "model": dict, "optimizer": dict, "step": int,
                 "total_steps": int, "output": str, "dataset": dict, "torch_rng": torch.Tensor}

# Settings that may change between a run and its resume; every other one must match.
CHANGEABLE = {"eval_every", "threads", "compile"}
CHANGEABLE_RECIPE = {"log_every"}
CHANGEABLE_WITH_CONSTANT_RATE = {"steps"}  # and the recipe's epochs: a constant rate can run longer


def save(files: RunFiles, settings: TrainSettings, parts: Parts, state: RunState, world_size: int) -> None:
    """Write the checkpoint of `parts` at `state` (rank 0 only)."""
    save_state({
        "format": CHECKPOINT_FORMAT,
        "version": CHECKPOINT_VERSION,
        "settings": settings.as_dict(),
        "world_size": world_size,
        "output": str(files.output.resolve()),
        "dataset": state.dataset,
        "step": state.step,
        "total_steps": state.total_steps,
        "running_loss": state.running_loss,
        "epoch_loss": state.epoch_loss,
        "final_loss": state.final_loss,
        "test_accuracy": state.test_accuracy,
        "metrics_bytes": state.metrics_bytes,
        "elapsed_seconds": state.elapsed_seconds,
        "torch_rng": torch.get_rng_state(),
        "model": parts.network.state_dict(),
        "optimizer": parts.optimizer.state_dict(),
        "scheduler": parts.schedule.state_dict(),
        "lookahead": parts.averaging.state_dict(),
        "scaler": parts.scaler.state_dict() if parts.scaler.is_enabled() else None,
    }, files.checkpoint)


def restore(checkpoint: dict[str, Any], parts: Parts, fresh: RunState) -> RunState:
    """Load a checked checkpoint into `parts` (built for the same settings and length) and
    return the run's position."""
    try:
        parts.network.load_state_dict(checkpoint["model"])
        parts.optimizer.load_state_dict(checkpoint["optimizer"])
        parts.schedule.load_state_dict(checkpoint.get("scheduler"))
        parts.averaging.load_state_dict(checkpoint.get("lookahead"))
        if checkpoint.get("scaler") is not None:
            parts.scaler.load_state_dict(checkpoint["scaler"])
    except (RuntimeError, ValueError, KeyError, TypeError) as error:
        detail = " ".join(str(error).split())[:120]
        raise CheckpointError(f"the checkpoint does not fit {parts.info.describe()} ({detail}); "
                              "it is damaged or from another run") from None
    torch.set_rng_state(checkpoint["torch_rng"])
    return dataclasses.replace(
        fresh,
        step=checkpoint["step"],
        running_loss=float(checkpoint.get("running_loss", 0.0)),
        epoch_loss=float(checkpoint.get("epoch_loss", 0.0)),
        final_loss=float(checkpoint.get("final_loss", float("nan"))),
        test_accuracy=checkpoint.get("test_accuracy"),
        metrics_bytes=int(checkpoint.get("metrics_bytes", 0)),
        elapsed_seconds=float(checkpoint.get("elapsed_seconds", 0.0)),
    )


def read_for_resume(files: RunFiles, settings: TrainSettings, data: Split, steps_per_epoch: int,
                    cluster: Cluster, allow_other_data: bool = False) -> dict[str, Any]:
    """The checkpoint to continue from, checked against this run, on every rank (rank 0 reads it)."""
    return on_main(lambda: _checked(files, settings, data, steps_per_epoch, cluster.world_size, allow_other_data),
                   cluster)


def claim_checkpoint(files: RunFiles, restart: bool, cluster: Cluster) -> None:
    """Before a fresh run: never overwrite a checkpoint of another output, or an unfinished one
    of this output, without being told to."""
    on_main(lambda: _check_claim(files, restart), cluster)


def _check_claim(files: RunFiles, restart: bool) -> None:
    path = files.checkpoint
    if not path.exists() and not path.is_symlink():
        return
    try:
        state = load_checkpoint(path)
    except CifarctlError:
        raise UsageError(f"{path} is in the way of this run's checkpoint and is not one cifarctl can read; "
                         "move it away or choose another --output") from None
    if state["output"] != str(files.output.resolve()):
        raise UsageError(f"{path} holds the checkpoint of another run (writing {state['output']}); "
                         "choose another --output, or delete that checkpoint if it is no longer needed")
    if state["step"] < state["total_steps"] and not restart:
        raise UsageError(f"{path} holds an unfinished run ({state['step']:,} of {state['total_steps']:,} steps); "
                         "continue it with --resume, or start over with --restart")


def recorded_validation(files: RunFiles) -> tuple[Path, dict[str, Any]] | None:
    """The validation split the checkpoint of `files` records (with the checkpoint's path), if any."""
    if not files.checkpoint.exists():
        return None
    validation = load_checkpoint(files.checkpoint)["settings"].get("validation")
    return (files.checkpoint, validation) if validation is not None else None


def settings_to_resume(settings: TrainSettings, checkpoint: dict[str, Any]) -> TrainSettings:
    """This run's settings, with the seed (when not given) and the fitted length taken from the checkpoint."""
    saved = TrainSettings.from_dict(checkpoint["settings"])
    seed = saved.seed if settings.seed is None else settings.seed
    threads = saved.threads if settings.threads is None else settings.threads
    steps = settings.steps
    if settings.time_budget is not None and saved.time_budget == settings.time_budget and saved.steps is not None:
        steps = checkpoint["total_steps"]  # the length the budget was fitted to
    options = saved.options if settings.pick_size and saved.pick_size else settings.options  # what the budget picked
    return dataclasses.replace(settings, seed=seed, steps=steps, threads=threads, options=options)


def load_checkpoint(path: Path) -> dict[str, Any]:
    state = load_state(path, "training checkpoint")
    if not is_checkpoint(state):
        raise CheckpointError(f"{path} is not a cifarctl training checkpoint")
    problem = version_problem(state.get("version"), CHECKPOINT_VERSION, path, "training checkpoint")
    if problem:
        raise CheckpointError(problem)
    if state.get("version") != CHECKPOINT_VERSION:
        raise CheckpointError(f"{path} is a version {state.get('version')} checkpoint; "
                              f"this cifarctl reads version {CHECKPOINT_VERSION} (start the run again)")
    for key, kind in REQUIRED_KEYS.items():
        if not isinstance(state.get(key), kind) or isinstance(state.get(key), bool):
            raise CheckpointError(f"{path} is damaged: its {key!r} entry is missing or of the wrong type")
    if not 0 <= state["step"] <= state["total_steps"]:
        raise CheckpointError(f"{path} is damaged: step {state['step']} of {state['total_steps']}")
    problem = _field_problem(state)
    if problem:
        raise CheckpointError(f"{path} is damaged: {problem}; start the run again without --resume")
    return state


def _number(value: Any, low: float = 0.0, high: float = math.inf, nan_ok: bool = False) -> bool:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    return (nan_ok and math.isnan(value)) or low <= value <= high


def _field_problem(state: dict[str, Any]) -> str | None:
    """The first entry of a checkpoint whose type or range is wrong, or None."""
    checks = {
        "metrics_bytes": isinstance(state.get("metrics_bytes", 0), int) and _number(state.get("metrics_bytes", 0)),
        "running_loss": _number(state.get("running_loss", 0.0), -math.inf),
        "epoch_loss": _number(state.get("epoch_loss", 0.0), -math.inf),
        "final_loss": _number(state.get("final_loss", 0.0), -math.inf, nan_ok=True),
        "test_accuracy": state.get("test_accuracy") is None or _number(state["test_accuracy"], 0.0, 1.0),
        "elapsed_seconds": _number(state.get("elapsed_seconds", 0.0)),
        "dataset": isinstance(state["dataset"].get("images"), int)
        and isinstance(state["dataset"].get("fingerprint"), str),
        "torch_rng": state["torch_rng"].dtype == torch.uint8
        and state["torch_rng"].shape == torch.get_rng_state().shape,
        "lookahead": state.get("lookahead") is None or isinstance(state["lookahead"], dict),
    }
    wrong = [name for name, sound in checks.items() if not sound]
    return f"its {wrong[0]!r} entry has the wrong type or range" if wrong else None


def _checked(files: RunFiles, settings: TrainSettings, data: Split, steps_per_epoch: int, world_size: int,
             allow_other_data: bool) -> dict[str, Any]:
    path = files.checkpoint
    if not path.exists():
        raise UsageError(f"--resume: no checkpoint at {path}; start without --resume")
    state = load_checkpoint(path)
    if state["output"] != str(files.output.resolve()):
        raise UsageError(f"--resume: {path} belongs to the run writing {state['output']}, not {files.output}; "
                         "pass that --output to resume it")
    if state["world_size"] != world_size:
        raise UsageError(f"--resume: {path} was made by {state['world_size']} process(es), "
                         f"this run has {world_size}; resume with the same number")
    try:
        saved = TrainSettings.from_dict(state["settings"])
    except (TypeError, KeyError, ValueError):
        raise CifarctlError(f"{path} is damaged: its settings cannot be read") from None
    different = _differences(saved, settings_to_resume(settings, state))
    if different:
        raise UsageError(f"--resume: {path} was made with " + ", ".join(different)
                         + "; use the same options to resume")
    identity = dataset_identity(data)
    if state["dataset"] != identity and not allow_other_data:
        raise UsageError(f"--resume: {path} was trained on another dataset ({state['dataset'].get('images', '?'):,} "
                         f"images) than the one in the data dir ({identity['images']:,} images, or the same count "
                         "with other contents); use that data dir, or pass --allow-other-data to continue anyway")
    fresh_total = planned_steps(settings_to_resume(settings, state), steps_per_epoch)
    if state["step"] > fresh_total:
        epoch = state["step"] // steps_per_epoch + (1 if state["step"] % steps_per_epoch else 0)
        raise UsageError(f"--resume: {path} has already trained into epoch {epoch} (step {state['step']:,}), "
                         f"past the {settings.epochs:g} epochs asked for; ask for at least --epochs {epoch}")
    return state


def _shown(key: str, value: Any) -> Any:
    """A setting as the options say it: the validation split as --val-split/--val-seed."""
    if key == "validation" and isinstance(value, dict):
        return f"--val-split {value.get('size')} --val-seed {value.get('seed')}"
    if key == "classes" and isinstance(value, list):
        return f"of {len(value)} ({', '.join(map(str, value[:3]))}{', ...' if len(value) > 3 else ''})"
    if key == "init_from":
        return f"--init-from {value.get('path')}" if isinstance(value, dict) else "no --init-from"
    if key == "class_weights":
        return f"class weights from {value.get('file') or value.get('source')}" if isinstance(value, dict) else "none"
    return "none" if key == "validation" and value is None else value


def _differences(saved: TrainSettings, now: TrainSettings) -> list[str]:
    constant_rate = now.recipe.schedule == "constant"
    skip_recipe = CHANGEABLE_RECIPE | ({"epochs"} if constant_rate else set())
    skip = CHANGEABLE | (CHANGEABLE_WITH_CONSTANT_RATE if constant_rate else set()) | {"recipe"}
    before, after = saved.as_dict(), now.as_dict()
    different = [f"{key} {_shown(key, before.get(key))} (now {_shown(key, after[key])})" for key in after
                 if key not in skip and before.get(key) != after[key]]
    different += [f"{key} {before['recipe'].get(key)} (now {value})" for key, value in after["recipe"].items()
                  if key not in skip_recipe and before["recipe"].get(key) != value]
    return different


class Checkpoints:
    """Saves the run's checkpoint at every epoch's end and on a stop request (rank 0 writes it;
    every rank settles its losses first, since those are averaged over the ranks)."""

    def __init__(self, run, parts: Parts, progress, context) -> None:
        self.run, self.parts, self.progress, self.context = run, parts, progress, context

    def save(self, state: RunState) -> None:
        self.progress.before_checkpoint(state)
        if self.context.cluster.is_main:
            save(self.run.files, self.run.settings_at(state), self.parts, state, self.context.cluster.world_size)
            self.progress.checkpoint_written()

    def stop_if_asked(self, state: RunState, saved: bool = False) -> None:
        """On a stop request (Ctrl-C, SIGTERM, SIGHUP): save (unless just `saved`), then stop with
        the line that says how to go on."""
        if stop_agreed(self.context.should_stop, state.step, self.context.cluster, at_once=saved):
            if not saved:
                self.save(state)
            raise Interrupted(f"interrupted at epoch {state.epoch + 1}, mini-batch {state.in_epoch}; checkpoint "
                              f"saved to {self.run.files.checkpoint}; rerun the same command with --resume to "
                              "continue")
