"""`cifarctl predict`: the top classes of your own image files, with what the network saw."""

from __future__ import annotations

import sys
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer

from cifarctl.cli.options import (
    DEFAULT_MODEL_FILE,
    InferenceBatchSizeOption,
    JsonOption,
    ModelFileOption,
    TtaOption,
    check_png_outputs,
    png_output_option,
)
from cifarctl.cli.startup import start
from cifarctl.inference import EVALUATION_BATCH

if TYPE_CHECKING:
    from cifarctl.inference.prediction import PredictionResult

PROGRESS_MIN_IMAGES = 500  # fewer decode in well under a second: a bar would only flicker
GRID_MAX_IMAGES = 256  # --save: a picture, not a poster


class ResizeMode(str, Enum):
    crop = "crop"
    stretch = "stretch"


def predict(
    ctx: typer.Context,
    inputs: Annotated[Optional[list[str]], typer.Argument(
        help="Image files (PNG, JPEG, BMP, GIF, WebP, TIFF) and folders, searched recursively; "
             "'-' reads more names from stdin, one per line.", metavar="IMAGES", show_default=False)] = None,
    model: ModelFileOption = DEFAULT_MODEL_FILE,
    top: Annotated[int, typer.Option(
        "--top", "-k", metavar="N", min=1, max=10,
        help="How many classes to show per image, most probable first.")] = 3,
    resize: Annotated[ResizeMode, typer.Option(
        "--resize", metavar="crop|stretch",
        help="How a picture becomes 32x32: 'crop' takes the largest centred square, then resizes it with "
             "antialiasing (Lanczos); 'stretch' resizes the whole picture, squashing it.")] = ResizeMode.crop,
    tta: TtaOption = None,
    thumbnails: Annotated[bool, typer.Option(
        "--thumbnails/--no-thumbnails",
        help="Draw each image as the network saw it (terminals with 256 colours or more).")] = True,
    save: png_output_option(
        "--save",
        help=f"Also write the images (the first {GRID_MAX_IMAGES}) with their predicted classes as one PNG.") = None,
    explain: png_output_option(
        "--explain",
        help=f"Also write where the network looked for each image's top class (Grad-CAM heatmaps of the first "
             f"{GRID_MAX_IMAGES} images, beside their top classes) as one PNG; with --json, every image's heatmap "
             "is in the output too. Needs the optional extra: pip install 'cifarctl[explain]'.") = None,
    strict: Annotated[bool, typer.Option(
        "--strict", help="Stop at the first unreadable file instead of skipping it.")] = False,
    batch_size: InferenceBatchSizeOption = EVALUATION_BATCH,
    json_output: JsonOption = False,
) -> None:
    """Classify image files: top classes with probabilities, one row per image.

    Pictures of any size and mode (grey, RGBA, palette) are converted to RGB, centre-cropped to
    a square and resized to 32x32 with antialiasing, like CIFAR-10's images (--resize stretch
    skips the crop). Unreadable files are named and skipped (exit code 1 at the end).
    Nothing is written unless --save asks.
    """
    from cifarctl.errors import CifarctlError, UsageError
    config, ui = start(ctx)
    paths = _input_paths(inputs or [])
    check_png_outputs(config.data_dir, inputs=(model, *paths), save=save, explain=explain)
    if explain is not None:
        from cifarctl.inference.explain import require_captum

        require_captum()
    if not paths:
        raise UsageError("give image files or folders to classify (or '-' to read their names from stdin)")

    from cifarctl.events import Events
    from cifarctl.inference.images import ImageDecoder, list_inputs

    listing = list_inputs(paths)
    table = not json_output and ui.out.is_terminal
    from cifarctl.cli.pictures import draws_in_colour

    with_thumbnails = table and thumbnails and draws_in_colour(ui.out)
    with ImageDecoder(listing.files, resize.value, config.workers) as decoder:  # starts decoding now
        # torch is imported here, while the workers decode
        from cifarctl.cli.provenance import report_made_by
        from cifarctl.devices import resolve_device
        from cifarctl.inference.model_files import load_trained_model
        from cifarctl.inference.prediction import predict_files

        torch_device = resolve_device(config.device)
        trained = load_trained_model(model, torch_device)
        ui.debug(f"model: {trained.describe()} from {model}, {trained.precision}")
        report_made_by(ui, trained, model)
        events = ui.events() if len(listing.files) >= PROGRESS_MIN_IMAGES else Events()
        result = predict_files(trained, decoder, torch_device, top=top, tta=trained.tta if tta is None else tta,
                               batch_size=batch_size, strict=strict, failures=listing.failures,
                               keep_images=save is not None or explain is not None or with_thumbnails,
                               events=events)
    if explain is not None:
        from cifarctl.cli.explained import predicted_heatmaps

        heat = predicted_heatmaps(trained, result)
    for failure in result.failures:
        ui.warning(f"skipped {failure.path}: {failure.reason}")
    if json_output:
        document = result.as_json()
        document["model"] = {"path": str(model), "name": trained.info.name, **trained.info.options,
                             **trained.made_by.as_json()}
        if explain is not None:
            from cifarctl.cli.explained import add_heatmaps_to_json

            add_heatmaps_to_json(document, heat)
        ui.print_json(document)
    elif table:
        ui.print(_table(result, with_thumbnails, ui.out.size.width))
    else:  # raw lines, tab-separated for cut and awk: rich would expand the tabs and read [..] as markup
        from cifarctl.cli.streams import one_line  # a file name with a TAB or a line break stays in its cell

        for index, path in enumerate(result.paths):
            cells = [one_line(str(path)), *(f"{name} {100 * p:.1f}%" for name, p in result.top_classes(index))]
            ui.out.file.write("\t".join(cells) + "\n")
        ui.out.file.flush()
    if save is not None and result.paths:
        _save_grid(result, save)
        shown = min(len(result.paths), GRID_MAX_IMAGES)
        ui.info(f"saved {shown} image{'s' if shown != 1 else ''} with their predictions to {save}")
    if explain is not None and result.paths:
        from cifarctl.cli.explained import save_predicted

        shown = save_predicted(result, heat, explain, trained, GRID_MAX_IMAGES)
        ui.info(f"saved where the network looked for {shown} image{'s' if shown != 1 else ''} to {explain}")
    if result.failures:
        read = len(result.paths)
        raise CifarctlError(f"{len(result.failures)} of {read + len(result.failures)} inputs could not be read "
                            f"(named above); {read} image{'s were' if read != 1 else ' was'} classified")


MAX_NAME_BYTES = 4096  # PATH_MAX: no file name on stdin is longer


def _input_paths(arguments: list[str]) -> list[Path]:
    paths: list[Path] = []
    for argument in arguments:
        if argument == "-":
            paths.extend(_names_from_stdin())
        else:
            paths.append(Path(argument))
    return paths


def _names_from_stdin() -> list[Path]:
    """One name a line, exactly as given (`' x.png'` keeps its space; only the line's end is not
    part of it; an empty line names nothing); read as bytes, as the file system spells names. A
    "line" longer than any path (`predict - < /dev/zero`) is refused, not read whole."""
    import os

    from cifarctl.errors import UsageError

    stream = getattr(sys.stdin, "buffer", sys.stdin)
    names = []
    while line := stream.readline(MAX_NAME_BYTES + 1):
        name = os.fsdecode(line) if isinstance(line, bytes) else line
        name = name[:-1] if name.endswith("\n") else name
        if len(name) > MAX_NAME_BYTES:
            raise UsageError(f"stdin holds a line longer than {MAX_NAME_BYTES} characters, which is no file name; "
                             "give one file name a line")
        if name:
            names.append(Path(name))
    return names


def _table(result: PredictionResult, with_thumbnails: bool, width: int):
    from rich.table import Table
    from rich.text import Text

    from cifarctl.cli.streams import one_line

    title = f"Predictions for {len(result.paths):,} images" + (" (test-time augmentation)" if result.tta else "")
    table = Table(title=title, title_justify="left")
    if with_thumbnails:
        table.add_column("seen as", no_wrap=True)
    table.add_column("file", overflow="fold")
    table.add_column(f"top {result.top}" if result.top > 1 else "class", no_wrap=True)
    table.add_column("probability", justify="right", no_wrap=True)
    for index, path in enumerate(result.paths):
        ranked = result.top_classes(index)
        names = Text("\n").join(
            Text(name, style="bold" if rank == 0 else "dim") for rank, (name, _) in enumerate(ranked))
        probabilities = Text("\n").join(
            Text(f"{100 * p:.1f} %", style="bold" if rank == 0 else "dim") for rank, (_, p) in enumerate(ranked))
        row = [Text(one_line(str(path))), names, probabilities]
        if with_thumbnails:
            row.insert(0, _thumbnail(result.images[index], width))
        table.add_row(*row)
    return table


def _thumbnail(image, width: int):
    """The 32x32 image at half size: 16 columns by 8 lines of half-blocks."""
    from rich.text import Text

    from cifarctl.cli.pictures import colour_grid

    small = image.reshape(3, 16, 2, 16, 2).mean(axis=(2, 4)).round().astype("uint8").transpose(1, 2, 0)
    lines = colour_grid(small[None], [""], width)[:-1]  # the last line is the (empty) caption
    for line in lines:
        line.rstrip()  # the gap colour_grid leaves after each image
    return Text("\n").join(lines)


def _save_grid(result: PredictionResult, path: Path) -> None:
    from cifarctl.pictures.grids import save_grid

    count = min(len(result.paths), GRID_MAX_IMAGES)
    captions = []
    for index in range(count):
        name, probability = result.top_classes(index)[0]
        captions.append(f"{name} {100 * probability:.0f}%")
    save_grid(result.images[:count], path, captions)
