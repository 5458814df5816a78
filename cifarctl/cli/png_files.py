"""Checks for options that name a PNG file to write, made before any long work starts."""

from __future__ import annotations

from pathlib import Path

import typer


def check_png_output(path: Path | None, option: str, data_dir: Path | None = None,
                     inputs: tuple[Path, ...] = ()) -> None:
    if path is None:
        return
    from cifarctl.data.guards import check_output_file

    check_output_file(path, option, data_dir=data_dir, inputs=inputs)
    if path.suffix.lower() != ".png":
        raise typer.BadParameter(f"{path} does not end in .png; the picture is written as a PNG", param_hint=f"'{option}'")
