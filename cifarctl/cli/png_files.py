"""Checks for options that name a PNG file to write, made before any long work starts."""

from __future__ import annotations

from pathlib import Path

import typer

from cifarctl.files import check_output_file


def check_png_output(path: Path | None, option: str) -> None:
    if path is None:
        return
    check_output_file(path, option)
    if path.suffix.lower() != ".png":
        raise typer.BadParameter(f"{path} does not end in .png; the picture is written as a PNG", param_hint=f"'{option}'")
