"""The metrics log of a training run: one JSON object per line, beside the model file.

The first line, of kind "run", says what the run trains on ({"kind": "run", "dataset":
"cifar100", "classes": 100}), so a plot knows random guessing's accuracy; logs written before it
existed have none and are CIFAR-10's. Lines of kind "step" come with every running-loss line,
lines of kind "epoch" at the end of every epoch. The checkpoint records how many bytes of the
log belong to it, so a resumed run first cuts off whatever was written after its checkpoint
(by a run killed later) and the log never holds a gap or a duplicate. `pandas.read_json(path, lines=True)` reads it.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any, Protocol

from cifarctl.atomic_writes import remove_stale_temporaries, temporary_name, write_error
from cifarctl.data.catalog import MAX_CLASSES, MIN_CLASSES
from cifarctl.errors import CifarctlError
from cifarctl.input_files import read_regular_file
from cifarctl.json_documents import load_json


def clean_number(value: Any) -> Any:
    """JSON has no NaN or infinity: such values become null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


class MetricsSink(Protocol):
    """Somewhere else the same records go (TensorBoard), written, flushed and closed with the log."""

    def write(self, record: dict[str, Any]) -> None: ...
    def flush(self) -> None: ...
    def close(self) -> None: ...


class MetricsLog:
    def __init__(self, path: Path | None, sink: MetricsSink | None = None) -> None:
        self.path = path
        self.sink = sink
        self._handle = None
        self._writing = path  # a temporary name until the run's first checkpoint, over an earlier run's log

    def open(self, keep_bytes: int | None, header: dict[str, Any] | None = None) -> None:
        """Start the log afresh (`keep_bytes` None) or continue one cut back to `keep_bytes`;
        a log that starts empty starts with `header` (`run_header`: the sink does not get it).

        A fresh log beside an earlier run's is written under a temporary name and takes the
        earlier one's place only with this run's first checkpoint (`checkpoint_written`): until
        then the earlier run's checkpoint and log still agree, and a run that fails first
        (diverges, is refused, is stopped) leaves them as they were."""
        if self.path is None:
            return
        try:
            if keep_bytes is None or not self.path.is_file():
                remove_stale_temporaries(self.path)
                self._writing = temporary_name(self.path) if self.path.exists() else self.path
                self._handle = open(self._writing, "w", encoding="utf-8")  # noqa: SIM115 (open for the run)
            else:
                self._writing = self.path
                self._handle = open(self.path, "r+", encoding="utf-8")  # noqa: SIM115 (open for the run)
                self._handle.truncate(_whole_lines(self.path, min(max(keep_bytes, 0), self.path.stat().st_size)))
                self._handle.seek(0, os.SEEK_END)
            if header is not None and self._handle.tell() == 0:
                self._handle.write(json.dumps(header, allow_nan=False) + "\n")
                self._handle.flush()
        except OSError as error:
            raise write_error(self.path, error) from None

    def checkpoint_written(self) -> None:
        """This run's checkpoint has replaced the earlier run's: its log replaces that run's log too."""
        if self._handle is None or self._writing == self.path:
            return
        try:
            os.replace(self._writing, self.path)  # the open handle goes on writing to the renamed file
        except OSError as error:
            raise write_error(self.path, error) from None
        self._writing = self.path

    def write(self, record: dict[str, Any]) -> None:
        if self._handle is None:
            return
        record = {key: clean_number(value) for key, value in record.items()}
        try:
            self._handle.write(json.dumps(record, allow_nan=False) + "\n")
            self._handle.flush()
        except OSError as error:
            raise write_error(self.path, error) from None
        if self.sink is not None:
            self.sink.write(record)

    def durable_size(self) -> int:
        """Bytes written so far, on disk: what a checkpoint taken now vouches for."""
        if self._handle is None:
            return 0
        if self.sink is not None:
            self.sink.flush()
        try:
            self._handle.flush()
            os.fsync(self._handle.fileno())
            return self._handle.tell()
        except OSError as error:
            raise write_error(self.path, error) from None

    def close(self) -> None:
        handle, self._handle = self._handle, None
        try:
            if handle is not None:
                handle.close()  # a full disk may show only here, when the last bytes go out
        except OSError as error:
            raise write_error(self.path, error) from None
        finally:
            if self._writing != self.path:  # no checkpoint of this run: the earlier run's log stays
                self._writing.unlink(missing_ok=True)
            if self.sink is not None:
                self.sink.close()


def run_header(dataset: str, classes: int, settings: Any = None) -> dict[str, Any]:
    """The log's first record: what the run trains on, and (given the run's `TrainSettings`) how it
    was fitted to that data and where its weights started."""
    header = {"kind": "run", "dataset": dataset, "classes": classes}
    if settings is not None:
        weights = settings.class_weights
        header.update({
            "batch_size": settings.batch_size, "batch_fitted_from": settings.batch_fitted_from,
            "class_weights": None if weights is None else weights["weights"],
            "class_weights_from": None if weights is None else weights.get("file") or weights["source"],
            "sampling": settings.sampling,
            "init_from": None if settings.init_from is None else settings.init_from["path"],
            "freeze_backbone": bool(settings.init_from and settings.init_from["freeze_backbone"]),
        })
    return header


MAX_LOG_BYTES = 1 << 30  # a line is about 200 bytes: millions of logged steps

REQUIRED_NUMBERS = {"step": ("epoch", "global_step", "images", "loss"), "epoch": ("epoch", "global_step", "images")}
OPTIONAL_FRACTIONS = ("train_accuracy", "test_accuracy", "val_accuracy")
MAX_COUNT = 2**53  # epochs, steps and images: whole numbers a float holds exactly, far past any run
# Every number a record may hold, with its range; a number outside it (a hand-edited
# `"images": 1e400`, a negative loss) makes the line unusable rather than an internal error.
NUMBER_RANGES = {"epoch": (0, MAX_COUNT), "step": (0, MAX_COUNT), "global_step": (0, MAX_COUNT),
                 "images": (0, MAX_COUNT), "loss": (0, math.inf), "train_loss": (0, math.inf), "lr": (0, math.inf),
                 "images_per_second": (0, math.inf), "seconds": (0, math.inf), "time": (0, math.inf),
                 **dict.fromkeys(OPTIONAL_FRACTIONS, (0, 1))}


def record_problem(record: Any) -> str | None:
    """Why a parsed line cannot be plotted, or None when it is a sound metrics record."""
    if isinstance(record, dict) and record.get("kind") == "run":
        classes = record.get("classes")
        if isinstance(classes, bool) or not isinstance(classes, int) or not MIN_CLASSES <= classes <= MAX_CLASSES:
            return "has no usable 'classes'"
        return None
    if not isinstance(record, dict) or record.get("kind") not in REQUIRED_NUMBERS:
        return "is not a metrics record"
    for key in REQUIRED_NUMBERS[record["kind"]]:
        if record.get(key) is None:
            return f"has no usable {key!r}"
    for key, value in record.items():
        if key in NUMBER_RANGES and value is not None:
            low, high = NUMBER_RANGES[key]
            if not _number_within(value, low, high):
                return f"holds {key!r} outside its range ({_range_words(low, high)})"
        elif isinstance(value, (int, float)) and not isinstance(value, bool) and not _number_within(value):
            return f"holds {key!r} that is not a finite number"
    return None


def _range_words(low: float, high: float) -> str:
    if high == math.inf:
        return f"a number of at least {low}"
    return f"a number from {low} to 2**53" if high == MAX_COUNT else f"a number from {low} to {high}"


def _number_within(value: Any, low: float = -math.inf, high: float = math.inf) -> bool:
    """A finite number (not true/false) within low..high; a whole number too large for a float is not."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    try:
        number = float(value)
    except OverflowError:  # JSON reads 10**400 as a whole number that no float holds
        return False
    return math.isfinite(number) and low <= number <= high


def _whole_lines(path: Path, size: int) -> int:
    """`size`, or less so the kept part ends with a whole line (a log cut short by hand may not)."""
    with open(path, "rb") as handle:
        kept = handle.read(size)
    return size if not kept or kept.endswith(b"\n") else kept.rfind(b"\n") + 1


def read_metrics(path: Path) -> tuple[list[dict[str, Any]], list[str]]:
    """The records of a metrics log, and warnings about lines that could not be read
    (a run killed mid-write leaves its last line cut)."""
    try:
        text = read_regular_file(Path(path), "metrics log", MAX_LOG_BYTES).decode("utf-8")
    except FileNotFoundError:
        raise CifarctlError(f"metrics log {path} does not exist; 'cifarctl train' writes one beside the model"
                            ) from None
    except (OSError, UnicodeDecodeError) as error:
        raise CifarctlError(f"metrics log {path} cannot be read ({error})") from None
    records, warnings = [], []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = load_json(line)
        except ValueError:
            warnings.append(f"{path}: line {number} is cut or not JSON; skipped")
            continue
        problem = record_problem(record)
        if problem is None:
            records.append(record)
        else:
            warnings.append(f"{path}: line {number} {problem}; skipped")
    return records, warnings
