"""`cifarctl benchmark-gpu`."""

from __future__ import annotations

import typer

from cifarctl.cli.options import DataDirOption, DeviceOption, SeedOption, command_config
from cifarctl.errors import CifarctlError


def benchmark_gpu(
    ctx: typer.Context,
    data_dir: DataDirOption = None,
    device: DeviceOption = None,
    seed: SeedOption = None,
) -> None:
    """Not implemented yet."""
    command_config(ctx, data_dir=data_dir, device=device, seed=seed)
    raise CifarctlError("'cifarctl benchmark-gpu' is not implemented yet")
