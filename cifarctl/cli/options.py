"""Option types shared by several commands.

The common options (`--data-dir`, `--device`, `--seed`) are accepted both before the
subcommand and after it; a value given after the subcommand wins.
"""

from __future__ import annotations

from enum import Enum
from functools import cached_property
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from cifarctl.config import Config, load_config, parse_device
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


def _model_value(value: str) -> str:
    if value not in registry.FAMILIES:
        raise typer.BadParameter(f"{value!r} is not a model; choose one of: {', '.join(registry.names())}")
    return value


def _complete_model(incomplete: str) -> list[tuple[str, str]]:
    return [(family.name, family.summary) for family in registry.FAMILIES.values() if family.name.startswith(incomplete)]


def model_options(given: Optional[list[str]], **named: Optional[int]) -> dict[str, int]:
    """`--width 32` and `--model-option width=32` as one dict; the registry checks them later."""
    options = {name: value for name, value in named.items() if value is not None}
    for item in given or []:
        name, equals, text = item.partition("=")
        if not equals or not name.strip():
            raise typer.BadParameter(f"{item!r} is not NAME=VALUE", param_hint="'--model-option'")
        key = name.strip().replace("-", "_")
        if key in options:
            raise typer.BadParameter(f"{key} is given twice (by --{key.replace('_', '-')} or --model-option); give it once",
                                     param_hint="'--model-option'")
        try:
            if not text.strip().isascii():
                raise ValueError
            options[key] = int(text)
        except ValueError:
            raise typer.BadParameter(f"{item!r}: the value is not a whole number", param_hint="'--model-option'") from None
    return options


DataDirOption = Annotated[
    Optional[Path],
    typer.Option("--data-dir", metavar="DIR", help="Where CIFAR-10 lives (default ./data).", show_default=False),
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
    typer.Option("--seed", min=0, metavar="N", help="Random seed (default: a fresh one, reported).", show_default=False),
]
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
NoDownloadOption = Annotated[
    bool,
    typer.Option("--no-download", help="Fail instead of downloading when the dataset is missing."),
]


class AppState:
    """What the root callback hands every command through `ctx.obj`.

    The Config is built on first use, so `cifarctl train --help` works even when a config
    file or CIFARCTL_* variable is broken.
    """

    def __init__(self, config_file: Optional[Path], flags: dict[str, Any]) -> None:
        self.config_file = config_file
        self.flags = flags

    @cached_property
    def config(self) -> Config:
        return load_config(config_file=self.config_file, **self.flags)


def command_config(ctx: typer.Context, **flags: Any) -> Config:
    """The app's Config with the options given after the subcommand applied on top."""
    state: AppState = ctx.find_root().obj
    return state.config.with_flags(**flags)
