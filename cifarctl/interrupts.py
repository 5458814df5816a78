"""Ctrl-C as a request to stop at the next safe point, not an exception mid-step.

While `StopRequest` is active, the first SIGINT only sets a flag, which the training loop
checks between mini-batches so it can save a consistent checkpoint. SIGTERM (what torchrun
sends its workers when it is stopped) sets the same flag.

One Ctrl-C can arrive twice: the terminal signals the whole process group, and a wrapper
in it (`timeout`, a shell script, torchrun) forwards the same keypress again a moment
later. So a second signal within `DUPLICATE_GRACE_S` of the first is taken as that same
Ctrl-C; only a second one after that interrupts at once, without saving.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable
from types import FrameType

DUPLICATE_GRACE_S = 1.0
ABORT_MESSAGE = "interrupted again: stopping without saving"


class StopRequest:
    def __init__(self, grace_s: float = DUPLICATE_GRACE_S, clock: Callable[[], float] = time.monotonic) -> None:
        self.requested = False
        self.requested_at: float | None = None
        self.grace_s = grace_s
        self._clock = clock
        self._previous: dict[int, object] = {}

    def __call__(self) -> bool:
        return self.requested

    def __enter__(self) -> StopRequest:
        if threading.current_thread() is threading.main_thread():
            self._previous[signal.SIGINT] = signal.signal(signal.SIGINT, self._on_sigint)
            self._previous[signal.SIGTERM] = signal.signal(signal.SIGTERM, self._on_sigterm)
        return self

    def __exit__(self, *exc: object) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        self._previous.clear()

    def _on_sigint(self, signum: int, frame: FrameType | None) -> None:
        if not self.requested:
            self._request()
        elif self._clock() - self.requested_at >= self.grace_s:
            raise KeyboardInterrupt(ABORT_MESSAGE)

    def _on_sigterm(self, signum: int, frame: FrameType | None) -> None:
        if not self.requested:
            self._request()

    def _request(self) -> None:
        self.requested = True
        self.requested_at = self._clock()
