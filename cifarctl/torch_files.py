"""Torch files (model files and training checkpoints): written atomically, read without unpickling code.

Model files are made in `cifarctl.inference.model_files`, training checkpoints in
`cifarctl.training.checkpoint`; both go through `save_state` and `load_state`.
"""

from __future__ import annotations

import io
import pickle
import reprlib
import zipfile
from pathlib import Path
from typing import Any

import torch

from cifarctl.atomic_writes import atomic_write
from cifarctl.errors import CheckpointError
from cifarctl.input_files import check_input_file
from cifarctl.path_kinds import resolved

CHECKPOINT_FORMAT = "cifarctl-training-checkpoint"
CHECKPOINT_VERSION = 3  # 3: Lookahead instead of an exponential moving average, drop-last epochs
UPGRADE = "upgrade cifarctl (pip install -U cifarctl) to read it"


def version_problem(found: Any, current: int, path: Path, what: str) -> str | None:
    """Why a file of format version `found` cannot be read by this cifarctl (made for `current`), or None.

    A newer file is never guessed at: its fields may mean something else now.
    """
    if isinstance(found, int) and not isinstance(found, bool) and 1 <= found <= current:
        return None
    if isinstance(found, int) and not isinstance(found, bool) and found > current:
        return (f"{path} is a version {found} {what}, written by a newer cifarctl (this one reads up to version "
                f"{current}); {UPGRADE}")
    return (f"{path} is a {what} without a valid version ({reprlib.repr(found)}); it is damaged or was not written "
            "by cifarctl")


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
    resolved(path, what)  # a loop of links is said as such, not as a missing file
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
    is_zip = _check_records(path, what)
    try:
        # Mapped, not read: storages are checked against the tensors that use them before
        # anything is copied into memory.
        state = _load(path, is_zip)
    except pickle.UnpicklingError as error:
        if "GLOBAL" in str(error) or "Unsupported global" in str(error):
            raise CheckpointError(f"{what} {path} contains code or objects other than tensors; "
                                  "refusing to load it (only plain weights are accepted)") from None
        raise CheckpointError(f"{what} {path} is not a PyTorch file or is corrupt") from None
    except PermissionError:
        raise CheckpointError(f"{what} {path} cannot be read (permission denied)") from None
    except Exception:  # torch.load fails in many ways on foreign or damaged bytes
        raise CheckpointError(f"{what} {path} is truncated or not a PyTorch file") from None
    tensors = list(_tensors_in(state))
    _check_storages(tensors, path, what)
    return _materialised(state) if is_zip else state


def _load(path: Path, is_zip: bool) -> Any:
    if is_zip:
        try:
            return torch.load(path, map_location="cpu", weights_only=True, mmap=True)
        except pickle.UnpicklingError:
            raise
        except (RuntimeError, OSError, ValueError):
            pass  # a filesystem that cannot map files: read it (no record expands, see _check_records)
    return torch.load(path, map_location="cpu", weights_only=True)


MAX_RECORDS = 100_000  # a checkpoint of the largest family holds a few hundred tensors
STORAGE_SLACK = 1 << 16


def _check_records(path: Path, what: str) -> bool:
    """Whether `path` is torch's zip format; refuse records that would expand when read.

    torch.save stores every record uncompressed, so a compressed one (a 3 MB file that
    inflates to gigabytes) was made by hand; so was a file of more records than any model has.
    """
    if not zipfile.is_zipfile(path):
        return False  # the legacy format, or not a torch file at all (torch.load says which)
    try:
        with zipfile.ZipFile(path) as archive:
            records = archive.infolist()
    except (zipfile.BadZipFile, OSError, ValueError):
        return False
    if len(records) > MAX_RECORDS:
        raise CheckpointError(f"{what} {path} holds {len(records):,} records, far more than any model; "
                              "refusing to load it")
    for record in records:
        if record.compress_type != zipfile.ZIP_STORED:
            raise CheckpointError(f"{what} {path} holds compressed data ({record.filename}), which torch.save "
                                  "never writes; it was repackaged or made to expand in memory: refusing to load it")
    return True


def _tensors_in(value: Any, depth: int = 0):
    if depth > 32:
        return
    if isinstance(value, torch.Tensor):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _tensors_in(item, depth + 1)
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from _tensors_in(item, depth + 1)


def _check_storages(tensors: list[torch.Tensor], path: Path, what: str) -> None:
    """The tensors' storages hold no more than the tensors use: a small view of a huge
    storage would make a model of a few weights cost gigabytes."""
    used = sum(tensor.numel() * tensor.element_size() for tensor in tensors)
    storages = {}
    for tensor in tensors:
        storage = tensor.untyped_storage()
        storages[storage.data_ptr(), storage.nbytes()] = storage.nbytes()
    held = sum(storages.values())
    if held > 2 * used + STORAGE_SLACK:
        raise CheckpointError(f"{what} {path} holds {held:,} bytes of storage for {used:,} bytes of tensors "
                              "(views of larger hidden data); it was not written by cifarctl or torch.save "
                              "of a state_dict: refusing to load it")


def _materialised(value: Any, depth: int = 0) -> Any:
    """The loaded document with every tensor copied out of the file's mapping (in place, so an
    OrderedDict keeps its `_metadata`)."""
    if isinstance(value, torch.Tensor):
        return value.clone()
    if depth > 32:
        return value
    if isinstance(value, dict):
        for key, item in value.items():
            value[key] = _materialised(item, depth + 1)
    elif isinstance(value, list):
        value[:] = [_materialised(item, depth + 1) for item in value]
    elif isinstance(value, tuple):
        return tuple(_materialised(item, depth + 1) for item in value)
    return value


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
