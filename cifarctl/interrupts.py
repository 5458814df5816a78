"""Ctrl-C, SIGTERM and SIGHUP: requests to stop, said in one line, with the exit code of the signal.

Every command stops at once on SIGTERM (`kill`, a service manager) and SIGHUP (a closed
terminal, a dropped ssh session) as it does on Ctrl-C, cleaning up what it was writing, and
exits 128 + the signal's number: 130 for SIGINT, 143 for SIGTERM, 129 for SIGHUP.

While `StopRequest` is active (training), a signal only sets a flag, which the training loop
checks between mini-batches so it can save a consistent checkpoint: SIGTERM (what torchrun
sends its workers when it is stopped) and SIGHUP (nobody is watching any more) are saved
exactly like Ctrl-C.

One Ctrl-C can arrive twice: the terminal signals the whole process group, and a wrapper
in it (`timeout`, a shell script, torchrun) forwards the same keypress again a moment
later. So a second signal within `DUPLICATE_GRACE_S` of the first is taken as that same
Ctrl-C; only a second one after that interrupts at once, without saving.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from types import FrameType
from typing import Any

from cifarctl.errors import Interrupted

DUPLICATE_GRACE_S = 1.0
ABORT_MESSAGE = "interrupted again: stopping without saving"
# What each stop signal is called in the one error line.
SIGNAL_WORDS = {signal.SIGINT: "interrupted", signal.SIGTERM: "terminated"}
if hasattr(signal, "SIGHUP"):
    SIGNAL_WORDS[signal.SIGHUP] = "hung up"
STOP_SIGNALS = tuple(SIGNAL_WORDS)


def exit_code_for(signum: int) -> int:
    """The shell's convention: 128 + the signal's number (130 Ctrl-C, 143 SIGTERM, 129 SIGHUP)."""
    return 128 + int(signum)


class Stopped(BaseException):
    """A stop signal outside training: unwinds the command (its `finally` blocks clean up)
    like Ctrl-C, and ends it with one line and the signal's exit code. A BaseException, so
    no `except Exception` on the way can swallow it."""

    def __init__(self, signum: int) -> None:
        super().__init__(SIGNAL_WORDS.get(signum, f"stopped by signal {signum}"))
        self.signum = signum
        self.exit_code = exit_code_for(signum)


def _raise_stopped(signum: int, frame: FrameType | None) -> None:
    raise Stopped(signum)


def stop_on_termination_signals() -> None:
    """At start-up: SIGTERM and SIGHUP stop the command like Ctrl-C (Python's default is to
    die on the spot, leaving temporary files and saying nothing)."""
    for signum in STOP_SIGNALS:
        if signum != signal.SIGINT and signal.getsignal(signum) is signal.SIG_DFL:
            signal.signal(signum, _raise_stopped)


def prepare_worker() -> None:
    """In a worker process (image decoding): it dies with its parent and leaves stop signals to it.

    Ctrl-C reaches every process of the terminal; the parent alone decides what stops. A
    parent killed outright (kill -9, out of memory) takes its workers with it, and they let go
    of the parent's locks at once, so nothing is left running or waiting.
    """
    from cifarctl.locks import release_inherited_locks

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    release_inherited_locks()
    parent = os.getppid()
    if sys.platform.startswith("linux"):
        try:
            import ctypes

            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG: the kernel kills us when the parent dies
        except (OSError, AttributeError):  # pragma: no cover - no prctl: the parent check below still helps
            pass
    if os.getppid() != parent or parent == 1:  # the parent died before the line above took effect
        os._exit(1)


def stop_workers(pool: Any) -> None:
    """End a pool of decoder processes now (a stop signal, an error, `predict --strict`).

    Chunks not started are dropped and the running ones killed: left alone, each would
    finish its chunk (thousands of images, seconds) before the command could exit, since
    Python waits for a pool's processes at exit. The workers only decode, so nothing of
    theirs needs cleaning up.
    """
    processes = list((getattr(pool, "_processes", None) or {}).values())
    pool.shutdown(wait=False, cancel_futures=True)
    for process in processes:
        with contextlib.suppress(Exception):  # already gone
            process.kill()


class StopRequest:
    def __init__(self, grace_s: float = DUPLICATE_GRACE_S, clock: Callable[[], float] = time.monotonic) -> None:
        self.requested = False
        self.requested_at: float | None = None
        self.signum: int = signal.SIGINT  # the signal of the first request, for the exit code
        self.grace_s = grace_s
        self._clock = clock
        self._previous: dict[int, object] = {}

    def __call__(self) -> bool:
        return self.requested

    def __enter__(self) -> StopRequest:
        if threading.current_thread() is threading.main_thread():
            self._previous[signal.SIGINT] = signal.signal(signal.SIGINT, self._on_sigint)
            for signum in STOP_SIGNALS:
                # `nohup cifarctl train` ignores SIGHUP on purpose: keep it that way
                if signum != signal.SIGINT and signal.getsignal(signum) is not signal.SIG_IGN:
                    self._previous[signum] = signal.signal(signum, self._on_sigterm)
        return self

    @property
    def exit_code(self) -> int:
        return exit_code_for(self.signum)

    @property
    def word(self) -> str:
        return SIGNAL_WORDS.get(self.signum, "interrupted")

    def reworded(self, error: Interrupted) -> Interrupted:
        """The training loop's "interrupted ...; checkpoint saved" line, worded and coded for the
        signal that stopped it ("terminated ...", exit 143)."""
        message = str(error)
        if self.word != "interrupted" and message.startswith("interrupted"):
            message = self.word + message.removeprefix("interrupted")
        said = Interrupted(message)
        said.exit_code = self.exit_code
        return said

    def __exit__(self, *exc: object) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        self._previous.clear()

    def _on_sigint(self, signum: int, frame: FrameType | None) -> None:
        if not self.requested:
            self._request(signum)
        elif self._clock() - self.requested_at >= self.grace_s:
            raise KeyboardInterrupt(ABORT_MESSAGE)

    def _on_sigterm(self, signum: int, frame: FrameType | None) -> None:
        """SIGTERM and SIGHUP: save like Ctrl-C; a second one is not a user's deliberate abort."""
        if not self.requested:
            self._request(signum)

    def _request(self, signum: int) -> None:
        self.requested = True
        self.requested_at = self._clock()
        self.signum = signum
