"""Every option defined once: the global ones and those several commands share.

The global ones go before or after the command; the shared ones are `--model FILE`, `--tta`,
the inference `--batch-size` and PNG outputs.
"""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer

from cifarctl.config import MAX_WORKERS, parse_device
from cifarctl.models import registry


def _device_value(value: Optional[str]) -> Optional[str]:
    if value is None:
        return None
    try:
        return parse_device(value)
    except ValueError as error:
        raise typer.BadParameter(str(error)) from None


class SplitName(str, Enum):
    train = "train"
    test = "test"


def duration_value(value: Optional[str]) -> Optional[str]:
    """A --time-budget's value, checked as the option is parsed (train, tune)."""
    from cifarctl.durations import parse_duration

    if value is not None:
        try:
            parse_duration(value)
        except ValueError as error:
            raise typer.BadParameter(str(error)) from None
    return value


def _model_value(value: str) -> str:
    if value not in registry.FAMILIES:
        raise typer.BadParameter(f"{value!r} is not a model; choose one of: {', '.join(registry.names())}")
    return value


def _complete_model(incomplete: str) -> list[tuple[str, str]]:
    return [(family.name, family.summary) for family in registry.FAMILIES.values()
            if family.name.startswith(incomplete)]


def model_options(given: Optional[list[str]], **named: Optional[int]) -> dict[str, int]:
    """`--width 32` and `--model-option width=32` as one dict; the registry checks them later."""
    options = {name: value for name, value in named.items() if value is not None}
    for item in given or []:
        name, equals, text = item.partition("=")
        if not equals or not name.strip():
            raise typer.BadParameter(f"{item!r} is not NAME=VALUE", param_hint="'--model-option'")
        key = name.strip().replace("-", "_")
        if key in options:
            raise typer.BadParameter(f"{key} is given twice (by --{key.replace('_', '-')} or --model-option); "
                                     "give it once",
                                     param_hint="'--model-option'")
        try:
            if not text.strip().isascii():
                raise ValueError
            options[key] = int(text)
        except ValueError:
            raise typer.BadParameter(f"{item!r}: the value is not a whole number",
                                     param_hint="'--model-option'") from None
    return options


# --- global options: the root callback's, also accepted after the commands that use them --
ConfigOption = Annotated[
    Optional[Path],
    typer.Option("--config", metavar="FILE", help="Config file (default ./cifarctl.toml if present).",
                 show_default=False),
]
DataDirOption = Annotated[
    Optional[Path],
    typer.Option("--data-dir", metavar="DIR", help="Where the datasets live (default ./data).", show_default=False),
]


def _complete_dataset(ctx: typer.Context, incomplete: str) -> list[str]:
    """The built-in datasets, then those imported into the data dir the command line (or the
    config) names, read from its folders: no torch, no numpy, nothing verified."""
    from cifarctl.cli.startup import GIVEN
    from cifarctl.config import load_config
    from cifarctl.dataset_names import BUILTIN_FOLDERS, imported_dataset_names
    from cifarctl.errors import CifarctlError

    given = ctx.meta.get(GIVEN, {})  # the global options the command line gave
    try:
        data_dir = load_config(config_file=given.get("config_file"), data_dir=given.get("data_dir")).data_dir
    except CifarctlError:  # a broken config: complete from the default data dir
        data_dir = Path("data") if given.get("data_dir") is None else given["data_dir"]
    names = [*BUILTIN_FOLDERS, *imported_dataset_names(data_dir)]
    return [name for name in names if name.startswith(incomplete)]


DatasetOption = Annotated[
    Optional[str],
    typer.Option("--dataset", metavar="NAME", show_default=False, autocompletion=_complete_dataset,
                 help="cifar10 (default; evaluate: the one the model learned), cifar100, or the name you imported "
                      "your own images under."),
]
DeviceOption = Annotated[
    Optional[str],
    typer.Option(
        "--device",
        metavar="DEVICE",
        help="auto, cpu, cuda, cuda:N or mps (auto picks cuda, then mps, then cpu).",
        callback=_device_value,
        show_default=False,
    ),
]
SeedOption = Annotated[
    Optional[int],
    typer.Option("--seed", min=0, metavar="N", help="Random seed (default: a fresh one, reported).",
                 show_default=False),
]
WorkersOption = Annotated[
    Optional[int],
    typer.Option("--workers", metavar="N", min=0, max=MAX_WORKERS, show_default=False,
                 help="Processes for decoding images (import, predict; 0 = one per core, and never more than one "
                      "per core)."),
]
NoColorOption = Annotated[bool, typer.Option("--no-color", help="Plain output without colour.")]
QuietOption = Annotated[bool, typer.Option("--quiet", "-q", help="Only results and errors.")]
VerboseOption = Annotated[
    int, typer.Option("--verbose", "-v", count=True, help="More detail, with each setting's source (repeatable).",
                      show_default=False),
]


def global_options(
    config_file: ConfigOption = None,
    data_dir: DataDirOption = None,
    dataset: DatasetOption = None,
    device: DeviceOption = None,
    seed: SeedOption = None,
    workers: WorkersOption = None,
    no_color: NoColorOption = False,
    quiet: QuietOption = False,
    verbose: VerboseOption = 0,
) -> None:
    """The options `cifarctl --help` lists, as one signature: cli/startup.py turns it into the
    root's options and each command's "Global options"."""


# Global options every command reads; the others only where a command says it uses them.
EVERY_COMMAND = ("config_file", "no_color", "quiet", "verbose")

# --- options several commands share ---------------------------------------------------------
JsonOption = Annotated[
    bool,
    typer.Option("--json", help="Print one JSON document on stdout; progress goes to stderr."),
]
ModelOption = Annotated[
    str,
    typer.Option(
        "--model",
        metavar="|".join(registry.names()),
        help=f"Which model to train. {registry.help_lines()}.",
        callback=_model_value,
        autocompletion=_complete_model,
    ),
]
ModelFileOption = Annotated[
    Path,
    typer.Option("--model", "-m", metavar="FILE",
                 help="A model file written by 'cifarctl train' (or its .ckpt), or the tutorial's state_dict."),
]
DEFAULT_MODEL_FILE = Path("cifar_net.pth")
TtaOption = Annotated[
    Optional[bool],
    typer.Option("--tta/--no-tta", show_default=False,
                 help="Average the predictions for each image and its mirror image (default: as the model's "
                      "recipe says)."),
]
InferenceBatchSizeOption = Annotated[
    int,
    typer.Option("--batch-size", metavar="N", min=1, max=65_536,
                 help="Images per forward pass (any size gives the same result)."),
]
NoDownloadOption = Annotated[
    bool,
    typer.Option("--no-download", help="Fail instead of downloading when the dataset is missing."),
]


def png_output_option(*names: str, help: str):
    """An option naming a PNG to write; `check_png_outputs` checks it before any work starts."""
    return Annotated[Optional[Path], typer.Option(*names, metavar="FILE.png", help=help, show_default=False)]


def check_png_outputs(data_dir: Path, inputs: tuple[Path, ...] = (), **outputs: Optional[Path]) -> None:
    """The output-file rules (never one of the command's `inputs`, never two outputs in one
    place), then the .png suffix, for each PNG option given (keyword: its name)."""
    from cifarctl.data.guards import check_output_file
    from cifarctl.output_paths import check_outputs_distinct

    named = [(path, "--" + name.replace("_", "-")) for name, path in outputs.items() if path is not None]
    for path, option in named:
        check_output_file(path, option, data_dir=data_dir, inputs=inputs)
        if path.suffix.lower() != ".png":
            raise typer.BadParameter(f"{path} does not end in .png; the picture is written as a PNG",
                                     param_hint=f"'{option}'")
    check_outputs_distinct(named)


def dataset_option(config) -> Optional[str]:
    """--dataset when it was given on the command line, else None: a dataset set in
    cifarctl.toml or $CIFARCTL_DATASET is a default for training, and commands that read
    models measure them on the dataset they learned (`inference.dataset_choice`)."""
    return config.dataset if config.source_of("dataset") == "option" else None
