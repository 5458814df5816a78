"""Training checkpoints and the files of a run: written atomically, read without unpickling code.

The training checkpoint (`cifar_net.ckpt`, beside the model file) is a dict of plain types
and tensors: weights, optimiser and schedule state, averaged weights, position, RNG state,
the settings of the run, the dataset it trained on and how much of the metrics log is its.
Model files themselves are read and written in `cifarctl.model_files`.
"""

from __future__ import annotations

import io
import pickle
from pathlib import Path
from typing import Any

import torch

from cifarctl.errors import CheckpointError
from cifarctl.files import atomic_write

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
    return state
