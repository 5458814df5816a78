"""JSON from files cifarctl reads (metrics logs, manifests), parsed with a bound on nesting.

`json.loads` recurses once per `[` or `{`: a line of 100,000 brackets exhausts the stack
(RecursionError) before it is found not to be a document cifarctl wrote. Nothing cifarctl
writes nests deeper than a few levels, so deeper text is refused up front.
"""

from __future__ import annotations

import json
from typing import Any

MAX_DEPTH = 32


class JsonTooDeep(ValueError):
    """The text nests arrays or objects deeper than any file cifarctl writes."""


def load_json(text: str, max_depth: int = MAX_DEPTH) -> Any:
    """`json.loads`, raising ValueError (never RecursionError) for text nested deeper than `max_depth`."""
    if _nesting_exceeds(text, max_depth):
        raise JsonTooDeep(f"nested more than {max_depth} levels deep")
    try:
        return json.loads(text)
    except RecursionError:  # a stack smaller than the bound assumes
        raise JsonTooDeep("nested too deep to read") from None


def _nesting_exceeds(text: str, max_depth: int) -> bool:
    if text.count("[") + text.count("{") <= max_depth:
        return False  # cannot nest deeper than it has brackets: the usual case, without a scan
    depth = 0
    in_string = escaped = False
    for character in text:
        if in_string:
            if escaped:
                escaped = False
            elif character == "\\":
                escaped = True
            elif character == '"':
                in_string = False
        elif character == '"':
            in_string = True
        elif character in "[{":
            depth += 1
            if depth > max_depth:
                return True
        elif character in "]}":
            depth -= 1
    return False
