"""All terminal output goes through the UI: results on stdout, progress and logs on stderr.

Interactive terminals get colour and live progress bars. Anything else (a pipe, a file,
`NO_COLOR`, `TERM=dumb`, `--no-color`, CI) gets plain lines a log can keep. The streams
under the consoles are in `streams.py`, the progress the core reports in `progress_events.py`.
"""

from __future__ import annotations

import json
import math
import os
import sys
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.measure import Measurement
from rich.table import Table

from cifarctl.cli.progress_events import LiveEvents, PlainEvents, QuietEvents
from cifarctl.cli.streams import PipeSafe, one_line
from cifarctl.events import Events


def _is_ci(environ: os._Environ[str] | dict[str, str]) -> bool:
    return environ.get("CI", "").lower() not in ("", "0", "false")


class UI:
    """Owns the two consoles and decides between live and plain output."""

    def __init__(self, color: bool = True, quiet: bool = False, verbose: int = 0) -> None:
        dumb = os.environ.get("TERM", "") in ("dumb", "unknown")
        # Without colour there are no styles at all (rich writes no bold either), and no
        # live bar: --no-color and NO_COLOR ask for output without escape sequences.
        color_system = "auto" if color and not dumb else None
        self.out = Console(file=PipeSafe(sys.stdout, "stdout"), color_system=color_system, highlight=False,
                           soft_wrap=True)
        self.err = Console(file=PipeSafe(sys.stderr, "stderr"), color_system=color_system, highlight=False,
                           soft_wrap=True)
        self.quiet = quiet
        self.verbose = verbose
        self.live = color_system is not None and self.err.is_terminal and not _is_ci(os.environ)

    # --- stderr: logs and progress -------------------------------------------------------
    def error(self, text: str) -> None:
        """One line, whatever names it quotes (a file name may hold a line break or ESC)."""
        self.err.print(f"[bold red]error:[/] {escape(one_line(text))}")

    def warning(self, text: str) -> None:
        self.err.print(f"[yellow]warning:[/] {escape(one_line(text))}")

    def info(self, text: str) -> None:
        if not self.quiet:
            self.err.print(escape(text))

    def debug(self, text: str) -> None:
        if self.verbose:
            self.err.print(f"[dim]{escape(text)}[/]")

    def debug_config(self, config: Any) -> None:
        """With -v: every setting, where its value came from, and the data dir it points at."""
        if not self.verbose:
            return
        for line in config.described():
            self.debug(f"setting {line}")
        self.debug(f"data dir: {os.path.abspath(config.data_dir)}")

    def events(self) -> Events:
        if self.quiet:
            return QuietEvents(self)
        return LiveEvents(self) if self.live else PlainEvents(self)

    # --- stdout: results ------------------------------------------------------------------
    def print(self, *renderables: Any) -> None:
        """Print results; a table is never squeezed below its natural width, because
        rich would cut its numbers to "12,…" on a narrow terminal (COLUMNS=20)."""
        tables = [renderable for renderable in renderables if isinstance(renderable, Table)]
        needed = max((_natural_width(self.out, table) for table in tables), default=0)
        if needed <= self.out.width:
            self.out.print(*renderables)
            return
        width = self.out.width
        self.out.width = needed  # the terminal wraps long lines; every digit stays
        try:
            self.out.print(*renderables)
        finally:
            self.out.width = width

    def print_json(self, document: Any) -> None:
        """One JSON document; numbers that are not finite become null (strict parsers reject NaN)."""
        self.out.file.write(json.dumps(_finite(document), indent=2, allow_nan=False) + "\n")
        self.out.file.flush()


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(item) for item in value]
    return value


def _natural_width(console: Console, table: Table) -> int:
    return Measurement.get(console, console.options.update_width(10_000), table).maximum
