"""Shell completion scripts for bash, zsh and fish, generated from the app.

`python -m cifarctl.cli.completions` rewrites the files under `completions/`; a test fails
when they drift from what this module generates.
"""

from __future__ import annotations

import sys
from pathlib import Path

from typer._completion_shared import get_completion_script

PROG_NAME = "cifarctl"
COMPLETE_VAR = "_CIFARCTL_COMPLETE"
FILES = {"bash": "cifarctl.bash", "zsh": "_cifarctl", "fish": "cifarctl.fish"}


def completion_scripts() -> dict[str, str]:
    """File name -> script text for every supported shell."""
    return {
        filename: get_completion_script(prog_name=PROG_NAME, complete_var=COMPLETE_VAR, shell=shell) + "\n"
        for shell, filename in FILES.items()
    }


def write_completions(folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for filename, text in completion_scripts().items():
        path = folder / filename
        path.write_text(text)
        written.append(path)
    return written


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parents[2] / "completions"
    for path in write_completions(target):
        print(path)
