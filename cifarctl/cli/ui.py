"""All terminal output: results on stdout, progress and logs on stderr.

Interactive terminals get colour and live progress bars. Anything else (a pipe, a file,
`NO_COLOR`, `TERM=dumb`, `--no-color`, CI) gets plain lines a log can keep.
"""

from __future__ import annotations

import errno
import io
import json
import math
import os
import sys
import time
from typing import Any, TextIO

from rich.console import Console
from rich.markup import escape
from rich.measure import Measurement
from rich.progress import (
    BarColumn,
    DownloadColumn,
    MofNCompleteColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)
from rich.table import Table

from cifarctl.events import Events

PLAIN_PROGRESS_INTERVAL_S = 5.0
# (stream name, error) for every write to stdout or stderr that failed other than by a closed pipe.
WRITE_FAILURES: list[tuple[str, OSError]] = []


class PipeSafe(io.TextIOBase):
    """A text stream that goes quiet once its reader has gone (`cifarctl train | head`).

    The command carries on (training still finishes and saves) instead of dying on the
    first write; the descriptor is pointed at /dev/null so Python's final flush is silent.
    A stream that was closed before we started (`cifarctl ... >&-`: Python then sets
    sys.stdout to None) writes nowhere from the start.

    A reader that left (EPIPE) is no error. A write that failed (a full disk, EIO) is: the
    results were lost, so the command must not exit 0. The error is kept in `WRITE_FAILURES`
    and `cifarctl.cli.app.run` turns it into one line and exit code 1 when the command ends.
    """

    def __init__(self, stream: TextIO | None, name: str = "output") -> None:
        self.stream = stream
        self.name = name
        self.gone = stream is None

    def write(self, text: str) -> int:
        if not self.gone:
            try:
                self.stream.write(readable(text))
            except BrokenPipeError:
                self._silence()
            except OSError as error:
                self._failed(error)
            except ValueError:  # closed under us ("I/O operation on closed file")
                self.gone = True
        return len(text)

    def flush(self) -> None:
        if not self.gone:
            try:
                self.stream.flush()
            except BrokenPipeError:
                self._silence()
            except OSError as error:
                self._failed(error)
            except ValueError:
                self.gone = True

    def _failed(self, error: OSError) -> None:
        if self.name == "stdout" and error.errno not in (errno.EBADF, errno.EPIPE):
            WRITE_FAILURES.append((self.name, error))  # logs on stderr that fail cost nothing
        self._silence()

    def _silence(self) -> None:
        self.gone = True
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, self.stream.fileno())
            os.close(devnull)
        except (OSError, ValueError, io.UnsupportedOperation):
            pass

    def isatty(self) -> bool:
        if self.stream is None:
            return False
        try:
            return self.stream.isatty()
        except (OSError, ValueError):
            return False

    def fileno(self) -> int:
        if self.stream is None:
            raise io.UnsupportedOperation("the stream was closed before cifarctl started")
        return self.stream.fileno()

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return getattr(self.stream, "encoding", None) or "utf-8"


def readable(text: str) -> str:
    """File names that are not UTF-8 arrive with each undecodable byte as a lone surrogate
    (b"caf\\xe9" -> "caf\\udce9"); show the byte as \\xe9, as Python writes bytes, instead of
    \\udce9 on stderr and an encoding error (silencing the stream) on a strict stdout.
    JSON is unaffected: json.dumps has already escaped the surrogates, exactly."""
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        try:
            return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
        except UnicodeEncodeError:  # a surrogate that no file name decodes to
            return text.encode("utf-8", "backslashreplace").decode("utf-8")


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
        self.err.print(f"[bold red]error:[/] {escape(text)}")

    def warning(self, text: str) -> None:
        self.err.print(f"[yellow]warning:[/] {escape(text)}")

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


class QuietEvents(Events):
    def __init__(self, ui: UI) -> None:
        self.ui = ui

    def warning(self, text: str) -> None:
        self.ui.warning(text)


class PlainEvents(Events):
    """Progress as occasional plain lines: start, every few seconds, and the end."""

    def __init__(self, ui: UI) -> None:
        self.ui = ui
        self.description = ""
        self.total: float | None = None
        self.unit = "steps"
        self.completed = 0.0
        self.start_completed = 0.0
        self.status = ""
        self.started_at = 0.0
        self.last_line_at = 0.0

    def task_started(self, description: str, total: float | None, unit: str = "steps", completed: float = 0) -> None:
        self.description, self.total, self.unit = description, total, unit
        self.completed, self.start_completed, self.status = completed, completed, ""
        self.started_at = self.last_line_at = time.monotonic()
        self.ui.info(f"{description} ...")

    def task_advanced(self, completed: float, status: str = "") -> None:
        self.completed, self.status = completed, status
        now = time.monotonic()
        if now - self.last_line_at >= PLAIN_PROGRESS_INTERVAL_S:
            self.last_line_at = now
            self.ui.info(self._line(now))

    def task_finished(self) -> None:
        self.ui.info(self._line(time.monotonic(), done=True))

    def message(self, text: str) -> None:
        self.ui.info(text)

    def warning(self, text: str) -> None:
        self.ui.warning(text)

    def _line(self, now: float, done: bool = False) -> str:
        elapsed = max(now - self.started_at, 1e-9)
        parts = [f"{self.description}:", _amount(self.completed, self.total, self.unit)]
        rate = (self.completed - self.start_completed) / elapsed
        parts.append(_rate(rate, self.unit))
        if self.total and not done and rate > 0:
            parts.append(f"ETA {_clock((self.total - self.completed) / rate)}")
        if done:
            parts.append(f"in {_clock(elapsed)}")
        if self.status:
            parts.append(self.status)
        return "  ".join(parts)


class LiveEvents(Events):
    """A rich progress bar on stderr; messages scroll above it."""

    def __init__(self, ui: UI) -> None:
        self.ui = ui
        self.progress: Progress | None = None
        self.task_id: Any = None

    def task_started(self, description: str, total: float | None, unit: str = "steps", completed: float = 0) -> None:
        self.task_finished()
        if unit == "bytes":
            counters = [DownloadColumn(), TransferSpeedColumn()]
        else:
            counters = [MofNCompleteColumn(), TaskProgressColumn()]
        self.progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            *counters,
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            TextColumn("{task.fields[status]}"),
            console=self.ui.err,
            transient=False,
        )
        self.progress.start()
        self.task_id = self.progress.add_task(escape(description), total=total, completed=completed, status="")

    def task_advanced(self, completed: float, status: str = "") -> None:
        if self.progress is not None:
            self.progress.update(self.task_id, completed=completed, status=escape(status))

    def task_finished(self) -> None:
        if self.progress is not None:
            self.progress.stop()
            self.progress = None

    def message(self, text: str) -> None:
        (self.progress.console if self.progress else self.ui.err).print(escape(text))

    def warning(self, text: str) -> None:
        (self.progress.console if self.progress else self.ui.err).print(
            f"[yellow]warning:[/] {escape(text)}"
        )


def _natural_width(console: Console, table: Table) -> int:
    return Measurement.get(console, console.options.update_width(10_000), table).maximum


def _amount(completed: float, total: float | None, unit: str) -> str:
    if unit == "bytes":
        done = _bytes(completed)
        return f"{done} / {_bytes(total)}" if total else done
    if total:
        return f"{int(completed):,}/{int(total):,} {unit} ({100 * completed / total:.0f}%)"
    return f"{int(completed):,} {unit}"


def _rate(rate: float, unit: str) -> str:
    return f"{_bytes(rate)}/s" if unit == "bytes" else f"{rate:,.0f} {unit}/s"


def _bytes(count: float | None) -> str:
    value = float(count or 0)
    for suffix in ("B", "kB", "MB", "GB"):
        if value < 1000 or suffix == "GB":
            return f"{value:.0f} {suffix}" if suffix == "B" else f"{value:.1f} {suffix}"
        value /= 1000
    return f"{value:.1f} GB"  # pragma: no cover


def _clock(seconds: float) -> str:
    seconds = round(seconds)
    minutes, seconds = divmod(seconds, 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{seconds:02d}"
