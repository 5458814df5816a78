"""Training checkpoints and the files of a run: written atomically, read without unpickling code.

The training checkpoint (`cifar_net.ckpt`, beside the model file) is a dict of plain types
and tensors: weights, optimiser and schedule state, averaged weights, position, RNG state,
the settings of the run, the dataset it trained on and how much of the metrics log is its.
Model files themselves are read and written in `cifarctl.model_files`.
"""

from __future__ import annotations

import io
import math
import pickle
from pathlib import Path
from typing import Any

import torch

from cifarctl.errors import CheckpointError
from cifarctl.files import atomic_write, check_input_file

CHECKPOINT_FORMAT = "cifarctl-training-checkpoint"
CHECKPOINT_VERSION = 2
REQUIRED_KEYS = {"settings": dict, "world_size": int, "model": dict, "optimizer": dict, "step": int,
                 "total_steps": int, "output": str, "dataset": dict, "torch_rng": torch.Tensor}


def save_state(obj: Any, path: Path) -> None:
    # Serialise in memory first: torch.save reports a full disk as a RuntimeError from its
    # zip writer, while a plain write raises the OSError that names the problem.
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    with atomic_write(Path(path)) as handle:
        handle.write(buffer.getbuffer())


def load_state(path: Path, what: str = "model file", missing_hint: str = "") -> Any:
    """torch.load with weights_only=True, and one clear error for every way it can fail."""
    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"{what} {path} does not exist{missing_hint}")
    if path.is_dir():
        raise CheckpointError(f"{what} {path} is a directory, not a file")
    check_input_file(path, what)
    if path.stat().st_size == 0:
        raise CheckpointError(f"{what} {path} is empty")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        if "GLOBAL" in str(error) or "Unsupported global" in str(error):
            raise CheckpointError(f"{what} {path} contains code or objects other than tensors; "
                                  "refusing to load it (only plain weights are accepted)") from None
        raise CheckpointError(f"{what} {path} is not a PyTorch file or is corrupt") from None
    except PermissionError:
        raise CheckpointError(f"{what} {path} cannot be read (permission denied)") from None
    except Exception:  # torch.load fails in many ways on foreign or damaged bytes
        raise CheckpointError(f"{what} {path} is truncated or not a PyTorch file") from None


def save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    save_state({"format": CHECKPOINT_FORMAT, "version": CHECKPOINT_VERSION, **state}, path)


def is_checkpoint(state: Any) -> bool:
    return isinstance(state, dict) and state.get("format") == CHECKPOINT_FORMAT


def load_checkpoint(path: Path) -> dict[str, Any]:
    state = load_state(path, "training checkpoint")
    if not is_checkpoint(state):
        raise CheckpointError(f"{path} is not a cifarctl training checkpoint")
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
        "dataset": isinstance(state["dataset"].get("images"), int) and isinstance(state["dataset"].get("fingerprint"), str),
        "torch_rng": state["torch_rng"].dtype == torch.uint8 and state["torch_rng"].shape == torch.get_rng_state().shape,
        "averaged_model": state.get("averaged_model") is None or isinstance(state["averaged_model"], dict),
    }
    wrong = [name for name, sound in checks.items() if not sound]
    return f"its {wrong[0]!r} entry has the wrong type or range" if wrong else None
