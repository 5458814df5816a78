"""`cifarctl preview`: look at a few images and their labels, in the terminal or as a PNG."""

from __future__ import annotations

import random
from typing import Annotated, Optional

import typer
from rich.text import Text

from cifarctl.cli.options import JsonOption, NoDownloadOption, SplitName, check_png_outputs, png_output_option
from cifarctl.cli.startup import start


def _class_names(value: Optional[str]) -> Optional[str]:
    if value is not None and not any(name.strip() for name in value.split(",")):
        raise typer.BadParameter("give at least one class, e.g. --classes cat,dog", param_hint="'--classes'")
    return value


def _class_list(value: Optional[str], classes) -> Optional[list[int]]:
    """The labels `--classes` names: a comma-separated list, or one class whose name has a comma."""
    if value is None:
        return None
    try:
        return [classes.index(value)]
    except ValueError:
        pass
    try:
        return sorted({classes.index(name) for name in value.split(",") if name.strip()})
    except ValueError as error:
        raise typer.BadParameter(str(error), param_hint="'--classes'") from None


def preview(
    ctx: typer.Context,
    split: Annotated[SplitName, typer.Option(
        "--split", metavar="train|test", help="Which images to show.")] = SplitName.train,
    count: Annotated[int, typer.Option(
        "--count", "-n", metavar="N", min=1, max=256, help="How many images.")] = 8,
    classes: Annotated[Optional[str], typer.Option(
        "--classes", metavar="NAMES", help="Only these classes, e.g. cat,dog.", show_default=False)] = None,
    save: png_output_option("--save", help="Also write the grid, with labels, as a PNG here.") = None,
    scale: Annotated[int, typer.Option(
        "--scale", metavar="N", min=1, max=16, help="Enlarge each pixel this many times in the PNG.")] = 4,
    json_output: JsonOption = False,
    no_download: NoDownloadOption = False,
) -> None:
    """Show random images with their labels, like the tutorial's imshow(make_grid(...))."""
    wanted = _class_names(classes)
    from cifarctl.cli.pictures import picture_lines
    from cifarctl.data.acquire import ensure_dataset
    from cifarctl.data.memory import load_split
    from cifarctl.data.store import describe_dataset
    from cifarctl.pictures.grids import as_hwc, sample_indices, save_grid

    config, ui = start(ctx)
    place = config.place()
    if place.spec.classes is not None:
        _class_list(wanted, place.spec.classes)  # a wrong name is said before any download
    check_png_outputs(config.data_dir, save=save)
    ensure_dataset(place, allow_download=not no_download, events=ui.events())
    ui.debug(describe_dataset(place))
    chosen_seed = config.seed if config.seed is not None else random.randrange(2**31)
    data = load_split(place, split.value)
    wanted_labels = _class_list(wanted, data.classes)
    indices = sample_indices(data, count, chosen_seed, wanted_labels)
    images, labels = data.images[indices], data.labels[indices]
    captions = [data.classes.names[label] for label in labels.tolist()]
    if save is not None:
        save_grid(images, save, captions, scale=scale)
    if json_output:
        ui.print_json({"dataset": place.spec.name, "split": split.value, "seed": chosen_seed,
                       "classes": None if wanted_labels is None else [data.classes.names[label]
                                                                      for label in wanted_labels],
                       "images": [{"index": index, "label": label, "class": caption}
                                  for index, label, caption in zip(indices.tolist(), labels.tolist(), captions)],
                       "png": None if save is None else str(save)})
    else:
        for line in picture_lines(ui.out, as_hwc(images), captions):
            ui.print(Text(line) if isinstance(line, str) else line)  # class names are text, never markup
        ui.print(Text(" ".join(f"{caption:5s}" for caption in captions)))
    if save is not None:
        ui.info(f"saved {_images(len(images))} to {save} (seed {chosen_seed})")
    elif config.seed is None and not json_output:
        ui.info(f"seed {chosen_seed}: pass --seed {chosen_seed} to see these again, --save grid.png for a PNG")


def _images(count: int) -> str:
    return "1 image" if count == 1 else f"{count} images"
