"""Torch files (model files and training checkpoints): written atomically, read without unpickling code.

Model files are made in `cifarctl.inference.model_files`, training checkpoints in
`cifarctl.training.checkpoint`; both go through `save_state` and `load_state`.
"""

from __future__ import annotations

import io
import math
import pickle
import zipfile
from pathlib import Path
from typing import Any

import torch

from cifarctl.errors import CheckpointError
from cifarctl.files import atomic_write, check_input_file

CHECKPOINT_FORMAT = "cifarctl-training-checkpoint"


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
    program = exported_program_kind(path)
    if program is not None:
        kind, runner = program
        raise CheckpointError(f"{what} {path} is {kind}, a program rather than weights cifarctl can read; run it "
                              f"with {runner}, or give the .pth that 'cifarctl train' wrote")
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


def exported_program_kind(path: Path) -> tuple[str, str] | None:
    """What kind of exported model `path` is and what runs it, or None for anything else
    (torch.load on TorchScript said only that it was "truncated or not a PyTorch file")."""
    try:
        if not zipfile.is_zipfile(path):
            return ("an ONNX file", "onnxruntime") if path.suffix.lower() == ".onnx" else None
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
    except (OSError, zipfile.BadZipFile):
        return None
    if any(name.endswith("/constants.pkl") for name in names) and any("/code/" in name for name in names):
        return "a TorchScript file (as 'cifarctl export --format torchscript' writes)", "torch.jit.load"
    if any(name.endswith("/archive_format") for name in names):
        return "an ExportedProgram file (as 'cifarctl export' writes)", "torch.export.load"
    return None


def is_checkpoint(state: Any) -> bool:
    """Whether a loaded torch file is a training checkpoint (model files are told apart by it)."""
    return isinstance(state, dict) and state.get("format") == CHECKPOINT_FORMAT
