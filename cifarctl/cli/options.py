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


class ModelName(str, Enum):
    """The built-in models `train` can build (cifarctl.models.MODEL_NAMES)."""

    net = "net"


DataDirOption = Annotated[
    Optional[Path],
    typer.Option("--data-dir", help="Where CIFAR-10 lives (default ./data).", show_default=False),
]
DeviceOption = Annotated[
    Optional[str],
    typer.Option(
        "--device",
        help="auto, cpu, cuda, cuda:N or mps (auto picks cuda, then mps, then cpu).",
        callback=_device_value,
        show_default=False,
    ),
]
SeedOption = Annotated[
    Optional[int],
    typer.Option("--seed", min=0, help="Random seed (default: a fresh one, reported).", show_default=False),
]
JsonOption = Annotated[
    bool,
    typer.Option("--json", help="Print one JSON document on stdout; progress goes to stderr."),
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
