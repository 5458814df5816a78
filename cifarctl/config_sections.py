"""Writing a `[train.MODEL]` section into a config file: that section replaced, every other line kept as it was.

`tune` writes the best settings it found where `train` reads its config (`--config`,
`$CIFARCTL_CONFIG`, else `./cifarctl.toml`). The file is edited as text, so the user's comments
and layout survive, and the result is parsed back before it replaces the file (atomically):
it must hold exactly the old settings with the new section. A file that sets the section some
other way (an inline table, `[train]` with `fast = {...}`) is left alone, and the error says so.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any

from cifarctl.atomic_writes import atomic_write
from cifarctl.config import MODEL_SECTIONS
from cifarctl.errors import CifarctlError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib

HEADER = re.compile(r"^\s*\[\s*(?P<path>[^\[\]]+?)\s*\]\s*(#.*)?$")  # [table] (not [[array of tables]])
ANY_HEADER = re.compile(r"^\s*\[")


def section_text(model: str, values: dict[str, Any], comments: list[str] = ()) -> str:
    """`[train.fast]`, comment lines, then one `name = value` line per setting."""
    lines = [f"[{MODEL_SECTIONS}.{model}]", *(f"# {comment}" for comment in comments)]
    lines += [f"{name} = {_toml_number(value)}" for name, value in values.items()]
    return "\n".join(lines) + "\n"


def _toml_number(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{value!r} is not a number")
    return str(value) if isinstance(value, int) else repr(float(value))


def write_model_section(path: Path, model: str, values: dict[str, Any], comments: list[str] = ()) -> None:
    """Put `[train.MODEL]` with `values` into `path` (made if missing), replacing that section only."""
    path = Path(path)
    try:
        old = path.read_text(encoding="utf-8") if path.exists() else ""
    except (OSError, UnicodeDecodeError) as error:
        raise CifarctlError(f"cannot read {path} to write the best settings into it ({error})") from None
    new = replaced_section(old, model, section_text(model, values, comments))
    problem = _difference(old, new, model, values)
    if problem:
        raise CifarctlError(f"cannot write the best settings into {path}: it {problem}; put the [{MODEL_SECTIONS}."
                            f"{model}] section printed above into it yourself")
    with atomic_write(path.resolve()) as handle:
        handle.write(new.encode("utf-8"))


def replaced_section(text: str, model: str, section: str) -> str:
    """`text` with the table `[train.MODEL]` (its header to the next header) replaced by `section`,
    or `section` appended after a blank line."""
    lines = text.splitlines(keepends=True)
    start = next((index for index, line in enumerate(lines) if _is_header_of(line, model)), None)
    if start is None:
        if not text.strip():
            return section
        body = text if text.endswith("\n") else text + "\n"
        return body + ("" if body.endswith("\n\n") else "\n") + section
    end = next((index for index in range(start + 1, len(lines)) if ANY_HEADER.match(lines[index])), len(lines))
    tail = lines[end:]
    return "".join(lines[:start]) + section + ("\n" if tail else "") + "".join(tail)


def _is_header_of(line: str, model: str) -> bool:
    found = HEADER.match(line)
    if found is None:
        return False
    keys = [key.strip().strip("\"'") for key in found.group("path").split(".")]
    return keys == [MODEL_SECTIONS, model]


def _difference(old: str, new: str, model: str, values: dict[str, Any]) -> str | None:
    """What is wrong with `new` as `old` with the section replaced; None when it is right."""
    try:
        before, after = tomllib.loads(old), tomllib.loads(new)
    except tomllib.TOMLDecodeError as error:
        return f"does not read back as TOML once the section is written ({error})"
    expected = dict(before)
    sections = dict(expected.get(MODEL_SECTIONS, {})) if isinstance(expected.get(MODEL_SECTIONS, {}), dict) else {}
    sections[model] = values
    expected[MODEL_SECTIONS] = sections
    if after != expected:
        return f"sets {MODEL_SECTIONS}.{model} in a form tune does not rewrite"
    return None
