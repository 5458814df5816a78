"""Standard output and error as streams that go quiet when their reader leaves and keep the writes that failed."""

from __future__ import annotations

import errno
import io
import os
from typing import TextIO

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


def one_line(text: str) -> str:
    """`text` with each character that would break a line, a column or a terminal (TAB, a line
    break, ESC, a bidi override) written as Python writes it in a string (`\\t`, `\\n`,
    `\\x1b`, `\\u202e`): for names in one-line messages and tab-separated lines. A file name
    may hold any of them; class names are refused them (`catalog.class_name_problem`)."""
    if text.isprintable():
        return text
    return "".join(character if character.isprintable() or 0xDC80 <= ord(character) <= 0xDCFF  # readable()'s
                   else ascii(character)[1:-1] for character in text)
