"""Small helpers shared by several test files."""

from __future__ import annotations

import resource
from collections.abc import Callable


def limit_file_size(limit: int) -> Callable[[], None]:
    """A subprocess `preexec_fn` that makes writes beyond `limit` bytes fail like a full disk."""
    def apply() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    return apply
