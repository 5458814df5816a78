"""Ctrl-C as a request to stop at the next safe point, not an exception mid-step.

While `StopRequest` is active, the first SIGINT only sets a flag, which the training loop
checks between mini-batches so it can save a consistent checkpoint. A second Ctrl-C
interrupts at once, as usual. SIGTERM (what torchrun sends its workers when it is stopped)
sets the same flag.
"""

from __future__ import annotations

import signal
import threading
from types import FrameType


class StopRequest:
    def __init__(self) -> None:
        self.requested = False
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
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True

    def _on_sigterm(self, signum: int, frame: FrameType | None) -> None:
        self.requested = True
