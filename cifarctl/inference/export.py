"""Exporting a trained model as a file that runs without cifarctl: TorchScript, ExportedProgram, ONNX.

The exported graph takes images as they come out of an image decoder (NCHW, any batch size,
uint8 0..255 or float 0..1), applies the normalisation the model was trained with, and returns
class probabilities; the class names travel with it. The file is made in memory and loaded
back, its outputs are compared with the PyTorch model's, and only a file that passes is
written (with its class names, or not at all).
"""

from __future__ import annotations

import contextlib
import io
import json
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn as nn

from cifarctl.atomic_writes import WriteError, atomic_write_together
from cifarctl.errors import CifarctlError
from cifarctl.events import Events
from cifarctl.inference.model_files import TrainedModel
from cifarctl.output_paths import check_free_space

FORMATS = {"torchscript": ".pt", "exported-program": ".pt2", "onnx": ".onnx"}
DEFAULT_TOLERANCE = 1e-4  # on probabilities; float32 reorderings differ by ~1e-7
ONNX_PACKAGES = ("onnx", "onnxscript")  # what torch.onnx.export needs; onnxruntime only checks
INPUT_NAME, OUTPUT_NAME = "images", "probabilities"


class ExportableClassifier(nn.Module):
    """Images in [0, 255] (uint8) or [0, 1] (float), NCHW -> (N, 10) class probabilities."""

    def __init__(self, network: nn.Module, mean: tuple[float, ...], std: tuple[float, ...], input_kind: str) -> None:
        super().__init__()
        self.network = network
        self.scale = 1 / 255 if input_kind == "uint8" else 1.0
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1))
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        pixels = images.to(torch.float32) * self.scale
        return self.network((pixels - self.mean) / self.std).softmax(dim=1)


@dataclass
class ExportResult:
    path: Path
    format: str
    input_kind: str
    classes: tuple[str, ...]
    metadata_path: Path | None  # the .json of class names beside a TorchScript or ExportedProgram file
    checked_with: str  # what loaded the file back
    compared_images: int  # how many images both models classified (0: not compared)
    images_source: str
    max_abs_difference: float | None
    tolerance: float

    def as_json(self) -> dict[str, Any]:
        return {
            "path": str(self.path),
            "format": self.format,
            "input": self.input_kind,
            "classes": list(self.classes),
            "metadata": str(self.metadata_path) if self.metadata_path else None,
            "check": {
                "loaded_with": self.checked_with,
                "images": self.compared_images,
                "images_source": self.images_source,
                "max_abs_difference": self.max_abs_difference,
                "tolerance": self.tolerance,
            },
        }


def default_output(model_path: Path, export_format: str) -> Path:
    return Path(model_path).with_suffix(FORMATS[export_format])


def require_onnx_packages() -> None:
    """Fail with the extra to install, before any work, when the ONNX exporter cannot run."""
    missing = []
    for name in ONNX_PACKAGES:
        try:
            __import__(name)
        except ImportError:
            missing.append(name)
    if missing:
        raise CifarctlError(f"ONNX export needs the Python packages {' and '.join(ONNX_PACKAGES)} "
                            f"({', '.join(missing)} missing); install them with: pip install 'cifarctl[onnx]'")


def metadata(trained: TrainedModel, input_kind: str) -> dict[str, Any]:
    """What a user of the exported file needs to know, as stored beside or inside it."""
    return {
        "dataset": trained.dataset,
        "classes": list(trained.classes),
        "input": {"name": INPUT_NAME, "layout": "NCHW", "shape": ["batch", 3, 32, 32], "channels": "RGB",
                  "dtype": "uint8" if input_kind == "uint8" else "float32",
                  "range": [0, 255] if input_kind == "uint8" else [0.0, 1.0]},
        "output": {"name": OUTPUT_NAME, "shape": ["batch", len(trained.classes)], "meaning": "class probabilities"},
        "model": {"family": trained.info.name, **trained.info.options},
        "normalization": {"mean": list(trained.mean), "std": list(trained.std)},
        "made_by": trained.made_by.record,  # what trained it (cifarctl version, settings); null if unknown
    }


def export_model(trained: TrainedModel, export_format: str, output: Path, input_kind: str,
                 check_images: torch.Tensor, images_source: str, tolerance: float = DEFAULT_TOLERANCE,
                 events: Events = Events()) -> ExportResult:
    """Export `trained` (on the CPU) as `export_format`, load the result back and compare it on
    `check_images` (uint8), and only then write it (with its `.json`) to `output`.

    The file is made and checked in memory, so a check that fails, a stop request, or a write
    that fails (a full disk) leaves no file behind, and torch's own writers never meet a full
    disk (the exported-program writer aborted the process there, a C++ terminate).
    """
    if export_format == "onnx":
        require_onnx_packages()
    # The inference form (batch norm folded), in the usual layout: the graph holds no layout of its own.
    network = trained.inference_network.to("cpu", memory_format=torch.contiguous_format)
    wrapper = ExportableClassifier(network, trained.mean, trained.std, input_kind).eval()
    inputs = check_images if input_kind == "uint8" else check_images.float() / 255
    # A batch of 2 while the check runs 64: the batch size stays free. Cloned, because the
    # ExportedProgram keeps its example, and a view would carry the whole test set's storage.
    example = inputs[:2].clone()
    described = metadata(trained, input_kind)
    exported = _WRITERS[export_format](wrapper, example, described, events)
    run_exported, checked_with = _reloaded(export_format, exported)
    difference = None
    if run_exported is not None:
        with torch.no_grad():
            expected = wrapper(inputs)
        difference = float((run_exported(inputs) - expected).abs().max())
    if difference is not None and not difference <= tolerance:
        raise CifarctlError(f"the export of {trained.path} differs from the PyTorch model's probabilities by up to "
                            f"{difference:.3g} (tolerance {tolerance:g}), so nothing was written; please report this")
    files = {output: exported}
    metadata_path = None
    if export_format != "onnx":  # ONNX keeps the names in its own metadata
        metadata_path = output.with_name(output.name + ".json")
        files[metadata_path] = (json.dumps(described, indent=2) + "\n").encode()
    _write(files, output)
    return ExportResult(output, export_format, input_kind, trained.classes, metadata_path, checked_with,
                        len(inputs) if run_exported is not None else 0, images_source, difference, tolerance)


def _write(files: dict[Path, bytes], output: Path) -> None:
    """The exported file and its class names, both or neither, after checking there is room."""
    check_free_space(output.parent if output.parent.exists() else Path("."), sum(map(len, files.values())) + 4096,
                     f"the export to {output}")
    try:
        atomic_write_together(files)
    except WriteError as error:
        if error.path is not None and error.path != output:
            raise WriteError(f"{error}; {output} was not written either: the exported file is used with its class "
                             "names, so it is written with them or not at all", error.errno, error.path) from None
        raise


def _dynamic_batch() -> dict[str, dict[int, Any]]:
    return {INPUT_NAME: {0: torch.export.Dim("batch", min=1, max=65_536)}}


def _torchscript(wrapper: nn.Module, example: torch.Tensor, described: dict, events: Events) -> bytes:
    # torch.jit warns once per call that it is deprecated; say it once, in our words.
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", FutureWarning)
        traced = torch.jit.trace(wrapper, example)
        buffer = io.BytesIO()
        torch.jit.save(traced, buffer, _extra_files={"cifarctl.json": json.dumps(described)})
    if any("deprecated" in str(warning.message) for warning in caught):
        events.warning("PyTorch has deprecated TorchScript (torch.jit); --format exported-program is its successor")
    return buffer.getvalue()


def _exported_program(wrapper: nn.Module, example: torch.Tensor, described: dict, events: Events) -> bytes:
    program = torch.export.export(wrapper, (example,), dynamic_shapes=_dynamic_batch())
    buffer = io.BytesIO()
    torch.export.save(program, buffer, extra_files={"cifarctl.json": json.dumps(described)})
    return buffer.getvalue()


def _onnx(wrapper: nn.Module, example: torch.Tensor, described: dict, events: Events) -> bytes:
    # The exporter reports its steps with print(); stdout belongs to the command's results.
    with contextlib.redirect_stdout(io.StringIO()):
        program = torch.onnx.export(wrapper, (example,), dynamo=True, input_names=[INPUT_NAME],
                                    output_names=[OUTPUT_NAME], dynamic_shapes=_dynamic_batch(), verbose=False)
    proto = program.model_proto
    for key, value in (("classes", json.dumps(described["classes"])), ("cifarctl", json.dumps(described))):
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    return proto.SerializeToString()


_WRITERS: dict[str, Callable[[nn.Module, torch.Tensor, dict, Events], bytes]] = {
    "torchscript": _torchscript, "exported-program": _exported_program, "onnx": _onnx}


def _reloaded(export_format: str, exported: bytes) -> tuple[Callable[[torch.Tensor], torch.Tensor] | None, str]:
    """A function running the exported bytes as a user's torch or onnxruntime would load them
    from the file, and what loaded them (None: only checked, not runnable)."""
    if export_format == "torchscript":
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            module = torch.jit.load(io.BytesIO(exported))
        return _no_grad(module), "torch.jit.load"
    if export_format == "exported-program":
        return _no_grad(torch.export.load(io.BytesIO(exported)).module()), "torch.export.load"
    try:
        import onnxruntime
    except ImportError:
        import onnx

        onnx.checker.check_model(onnx.load_model_from_string(exported), full_check=True)
        return None, "onnx.checker (install onnxruntime to compare outputs too)"
    session = onnxruntime.InferenceSession(exported, providers=["CPUExecutionProvider"])

    def run(images: torch.Tensor) -> torch.Tensor:
        return torch.from_numpy(session.run([OUTPUT_NAME], {INPUT_NAME: images.numpy()})[0])

    return run, f"onnxruntime {onnxruntime.__version__}"


def _no_grad(module: Callable[[torch.Tensor], torch.Tensor]) -> Callable[[torch.Tensor], torch.Tensor]:
    def run(images: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return module(images)

    return run
