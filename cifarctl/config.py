"""The one Config object every command shares, and the rules that build it.

Precedence, lowest first: defaults < config file < CIFARCTL_* environment < flags.
The config file is `--config PATH`, else `$CIFARCTL_CONFIG`, else `cifarctl.toml` in the
working directory when it exists. It holds the same keys as the dataclass:

    data_dir = "~/datasets/cifar"
    dataset = "cifar100"
    device = "cpu"
    seed = 0

and, per model family, the settings `train` starts from (what `cifarctl tune` writes; options
given on the command line still win; `train` checks each name and range against the family):

    [train.fast]
    lr = 0.8
    width = 96
"""

from __future__ import annotations

import dataclasses
import errno
import os
import re
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cifarctl.dataset_names import DEFAULT_DATASET, dataset_name
from cifarctl.errors import CifarctlError, ConfigError
from cifarctl.input_files import read_regular_file
from cifarctl.output_paths import remember_input

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib

DEFAULT_CONFIG_FILE = "cifarctl.toml"
ENV_PREFIX = "CIFARCTL_"
DEVICE_PATTERN = re.compile(r"^(auto|cpu|mps|cuda(:\d+)?)$")
MAX_WORKERS = 256  # import processes; more is never useful and each costs memory
MAX_SEED = 2**63 - 1  # what torch's and numpy's generators take as a signed 64-bit seed
MAX_VERBOSE = 10
MAX_THREADS = 256
MAX_CONFIG_BYTES = 1 << 20  # a config file holds a few lines
MODEL_SECTIONS = "train"  # [train.MODEL]: a family's settings by name, in the file only (no variable, no option)


@dataclass(frozen=True)
class Config:
    data_dir: Path = Path("data")
    dataset: str = DEFAULT_DATASET  # cifar10, cifar100, or the name of an imported image-folder dataset
    device: str = "auto"
    seed: int | None = None  # None: a fresh seed per run, reported and saved with the model
    workers: int = 0  # processes for decoding image folders on import; 0 = one per CPU core
    threads: int | None = None  # CPU threads for training; None: measured at the start of each run
    color: bool = True
    quiet: bool = False
    verbose: int = 0
    # [train.MODEL] sections: model name -> {setting: number}, as the file gives them
    train: Mapping[str, Mapping[str, int | float]] = field(default_factory=dict)
    # Where each value that is not a default came from ("cifarctl.toml", "$CIFARCTL_SEED",
    # "option"), for `-v` to show a user why a setting has the value it has.
    sources: Mapping[str, str] = field(default_factory=dict, compare=False, repr=False)
    config_file: Path | None = field(default=None, compare=False)  # the file read, if any (tune writes there)

    def with_flags(self, **flags: Any) -> Config:
        """A copy with every flag the user actually gave (not None) applied and validated."""
        given = {name: value for name, value in flags.items() if value is not None}
        clean = _validated(given, source="option")
        return dataclasses.replace(self, **clean, sources={**self.sources, **dict.fromkeys(clean, "option")})

    def source_of(self, name: str) -> str:
        return self.sources.get(name, "default")

    def described(self) -> list[str]:
        """One `name = value (source)` line per setting (and per setting of a [train.MODEL] section)."""
        return [f"{name} = {getattr(self, name)!s} ({self.source_of(name)})" for name in PARSERS] + [
            f"{MODEL_SECTIONS}.{model}.{name} = {value!r} ({self.source_of(MODEL_SECTIONS)})"
            for model, values in self.train.items() for name, value in values.items()]


def parse_device(text: str) -> str:
    device = text.strip().lower()
    if not DEVICE_PATTERN.match(device):
        raise ValueError(f"{text!r} is not a device; use auto, cpu, cuda, cuda:N or mps")
    return device


def _parse_bool(text: str) -> bool:
    value = text.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off", ""):
        return False
    raise ValueError(f"{text!r} is not a boolean; use 1/0, true/false, yes/no")


def _parse_int(minimum: int, maximum: int | None = None) -> Callable[[Any], int]:
    def parse(value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, (int, str)):
            raise ValueError(f"{value!r} is not a whole number")
        try:
            number = int(value)
        except ValueError:
            raise ValueError(f"{value!r} is not a whole number") from None
        if number < minimum:
            raise ValueError(f"{number} is below the minimum of {minimum}")
        if maximum is not None and number > maximum:
            raise ValueError(f"{number} is above the maximum of {maximum}")
        return number

    return parse


def _parse_seed(value: Any) -> int | None:
    if isinstance(value, str) and value.strip().lower() in ("", "none", "random"):
        return None
    return _parse_int(0, MAX_SEED)(value)


def _parse_threads(value: Any) -> int | None:
    if isinstance(value, str) and value.strip().lower() in ("", "auto"):
        return None
    return _parse_int(1, MAX_THREADS)(value)


def _parse_path(value: Any) -> Path:
    if not isinstance(value, (str, Path)) or str(value) == "" or "\0" in str(value):
        raise ValueError(f"{value!r} is not a path")
    return Path(value).expanduser()


def _parse_data_dir(value: Any) -> Path:
    path = _parse_path(value)
    try:
        os.stat(path)
    except OSError as error:
        if error.errno == errno.ELOOP:
            raise ValueError(f"{str(path)!r} is a loop of symbolic links; point it at a real folder") from None
    return path


def _parse_dataset(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError(f"{value!r} is not a dataset name")
    try:
        return dataset_name(value.strip())
    except CifarctlError as error:
        raise ValueError(str(error)) from None


def _parse_str_device(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError(f"{value!r} is not a device; use auto, cpu, cuda, cuda:N or mps")
    return parse_device(value)


def _parse_any_bool(value: Any) -> bool:
    return value if isinstance(value, bool) else _parse_bool(str(value))


PARSERS: dict[str, Callable[[Any], Any]] = {
    "data_dir": _parse_data_dir,
    "dataset": _parse_dataset,
    "device": _parse_str_device,
    "seed": _parse_seed,
    "workers": _parse_int(0, MAX_WORKERS),
    "threads": _parse_threads,
    "color": _parse_any_bool,
    "quiet": _parse_any_bool,
    "verbose": _parse_int(0, MAX_VERBOSE),
}


def env_name(field: str) -> str:
    return ENV_PREFIX + field.upper()


def _validated(values: Mapping[str, Any], source: str) -> dict[str, Any]:
    clean = {}
    for name, value in values.items():
        if name not in PARSERS:
            known = ", ".join(PARSERS)
            raise ConfigError(f"unknown setting {name!r} in {source}; known settings: {known}")
        try:
            clean[name] = PARSERS[name](value)
        except ValueError as error:
            where = f"option --{name.replace('_', '-')}" if source == "option" else source
            raise ConfigError(f"bad value for {name} in {where}: {error}") from None
    return clean


def read_config_file(path: Path) -> dict[str, Any]:
    try:
        document = tomllib.loads(read_regular_file(path, "config file", MAX_CONFIG_BYTES).decode("utf-8"))
    except CifarctlError as error:
        raise ConfigError(f"{error} (check --config or $CIFARCTL_CONFIG)") from None
    except RecursionError:
        raise ConfigError(f"config file {path} nests tables or arrays far too deep; it holds only "
                          "a few plain settings") from None
    except FileNotFoundError:
        raise ConfigError(f"config file {path} does not exist; check --config or $CIFARCTL_CONFIG") from None
    except IsADirectoryError:
        raise ConfigError(f"config file {path} is a directory; pass a .toml file") from None
    except PermissionError:
        raise ConfigError(f"config file {path} cannot be read (permission denied)") from None
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"config file {path} is not valid TOML: {error}") from None
    except UnicodeDecodeError as error:
        raise ConfigError(f"config file {path} is not UTF-8 text (byte {error.start} cannot be decoded); "
                          "save it as UTF-8") from None
    remember_input(path)  # no command may write over it
    sections = document.pop(MODEL_SECTIONS, None)
    clean = _validated(document, source=str(path))
    if sections is not None:
        clean[MODEL_SECTIONS] = model_sections(sections, path)
    return clean


def model_sections(sections: Any, path: Path) -> dict[str, dict[str, int | float]]:
    """`[train.MODEL]` tables of plain numbers; which names and ranges a family takes is `train`'s
    to check (the families live above this module)."""
    if not isinstance(sections, dict) or not all(isinstance(values, dict) for values in sections.values()):
        raise ConfigError(f"config file {path}: {MODEL_SECTIONS} holds one table per model, "
                          f"like [{MODEL_SECTIONS}.fast] with lr = 0.8")
    for model, values in sections.items():
        for name, value in values.items():
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value or value in (
                    float("inf"), float("-inf")):
                raise ConfigError(f"config file {path}: [{MODEL_SECTIONS}.{model}] {name} = {value!r} is not a "
                                  "finite number")
    return {model: dict(values) for model, values in sections.items()}


def read_environment(environ: Mapping[str, str]) -> dict[str, Any]:
    return {name: value for name, (value, _) in _environment_values(environ).items()}


def _environment_values(environ: Mapping[str, str]) -> dict[str, tuple[Any, str]]:
    """Each setting given in the environment, with the variable it came from."""
    values: dict[str, tuple[Any, str]] = {}
    if environ.get("NO_COLOR", "") != "":  # https://no-color.org
        values["color"] = (False, "$NO_COLOR")
    for name in PARSERS:
        variable = env_name(name)
        if variable in environ:
            values[name] = (_validated({name: environ[variable]}, source=f"${variable}")[name], f"${variable}")
    return values


def load_config(
    config_file: Path | None = None,
    environ: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    kind: type[Config] = Config,
    **flags: Any,
) -> Config:
    """Build the Config (or the subclass `kind`): defaults < config file < environment < flags."""
    environ = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    sources: dict[str, str] = {}
    path = config_file or (Path(environ[env_name("config")]) if env_name("config") in environ else None)
    if path is None:
        candidate = (cwd or Path.cwd()) / DEFAULT_CONFIG_FILE
        path = candidate if candidate.is_file() else None
    if path is not None:
        from_file = read_config_file(path)
        values.update(from_file)
        sources.update(dict.fromkeys(from_file, str(path)))
    for name, (value, variable) in _environment_values(environ).items():
        values[name], sources[name] = value, variable
    return kind(**values, sources=sources, config_file=path).with_flags(**flags)
