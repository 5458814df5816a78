"""`cifarctl export`: a trained model as a file that runs without cifarctl (TorchScript, ExportedProgram, ONNX)."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer

from cifarctl.cli.options import DEFAULT_MODEL_FILE, JsonOption, ModelFileOption, dataset_option
from cifarctl.cli.startup import start

CHECK_IMAGES = 64


class ExportFormat(str, Enum):
    torchscript = "torchscript"
    exported_program = "exported-program"
    onnx = "onnx"


class InputKind(str, Enum):
    uint8 = "uint8"
    float = "float"


def export(
    ctx: typer.Context,
    model: ModelFileOption = DEFAULT_MODEL_FILE,
    export_format: Annotated[ExportFormat, typer.Option(
        "--format", "-f", metavar="|".join(f.value for f in ExportFormat),
        help="torchscript: torch.jit.trace -> .pt (deprecated by PyTorch); exported-program: torch.export -> .pt2; "
             "onnx: .onnx (needs 'pip install cifarctl[onnx]').")] = ExportFormat.exported_program,
    output: Annotated[Optional[Path], typer.Option(
        "--output", "-o", metavar="FILE", show_default=False,
        help="Where to write (default: the model's name with .pt, .pt2 or .onnx).")] = None,
    input_kind: Annotated[InputKind, typer.Option(
        "--input", metavar="uint8|float",
        help="What the exported graph takes: uint8 images (0..255) or float images (0..1); NCHW RGB 32x32, any batch "
             "size.")] = InputKind.uint8,
    tolerance: Annotated[float, typer.Option(
        "--tolerance", metavar="P", min=0.0,
        help="Largest difference in any probability allowed between the exported file and the PyTorch model.",
    )] = 1e-4,
    json_output: JsonOption = False,
) -> None:
    """Write a trained model as one file that runs with PyTorch or ONNX Runtime alone.

    The graph includes the normalisation and returns class probabilities; the class names
    travel with it (ONNX metadata, or a .json beside the file). The file is then loaded back
    and compared with the PyTorch model on test images (random ones when no dataset is present).
    Test-time augmentation is not part of the export.
    """
    from cifarctl.data.guards import check_output_file
    from cifarctl.inference.export import FORMATS, default_output, export_model, require_onnx_packages

    if export_format is ExportFormat.onnx:
        require_onnx_packages()
    target = output if output is not None else default_output(model, export_format.value)
    config, ui = start(ctx)
    check_output_file(target, "--output", data_dir=config.data_dir, inputs=(model,))
    if export_format is not ExportFormat.onnx:
        check_output_file(target.with_name(target.name + ".json"), "--output (its class names file)",
                          data_dir=config.data_dir, inputs=(model,))
    required = FORMATS[export_format.value]
    if target.suffix != required:
        raise typer.BadParameter(f"{target} does not end in {required}, the suffix of {export_format.value} files",
                                 param_hint="'--output'")

    from cifarctl.cli.provenance import report_made_by
    from cifarctl.inference.model_files import load_trained_model

    trained = load_trained_model(model, "cpu")
    ui.debug(f"model: {trained.describe()} from {model}")
    report_made_by(ui, trained, model)
    images, source = _check_images(_dataset_of(config, trained))
    result = export_model(trained, export_format.value, target, input_kind.value, images, source,
                          tolerance, events=ui.events())
    if json_output:
        document = result.as_json()
        document["model"] = {"path": str(model), "name": trained.info.name, **trained.info.options,
                             **trained.made_by.as_json()}
        ui.print_json(document)
        return
    ui.print(f"exported {trained.describe()} ({model}) to {result.path} as {export_format.value}, "
             f"taking {input_kind.value} images")
    if result.metadata_path is not None:
        ui.print(f"class names and input description: {result.metadata_path}")
    if result.max_abs_difference is None:
        ui.print(f"checked: the file loads with {result.checked_with}")
    else:
        ui.print(f"checked: reloaded with {result.checked_with}; on {result.compared_images} {result.images_source} "
                 f"the largest difference from the PyTorch model's probabilities is "
                 f"{result.max_abs_difference:.2e} (tolerance {result.tolerance:g})")


def _dataset_of(config, trained):
    """The dataset whose test images check the export: as evaluate chooses it."""
    from cifarctl.errors import CifarctlError
    from cifarctl.inference.dataset_choice import dataset_of_models

    try:
        return dataset_of_models([trained], config.data_dir, dataset_option(config))
    except CifarctlError:  # a name no dataset could have: the check uses random images instead
        return config.place()


def _check_images(place):
    """The first test images when a dataset is present; otherwise fixed random images."""
    import torch

    from cifarctl.data.acquire import present_dataset
    from cifarctl.data.memory import load_split
    from cifarctl.errors import CifarctlError

    try:
        if present_dataset(place) is not None:
            return load_split(place, "test").images[:CHECK_IMAGES], "test images"
    except CifarctlError:
        pass  # a damaged dataset is for `download` to report; random images still check the file
    generator = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (CHECK_IMAGES, 3, 32, 32), dtype=torch.uint8, generator=generator)
    return images, f"random images (no {place.spec.title} in {place.data_dir})"
