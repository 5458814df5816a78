"""Which runs a repeated or grid training makes, and the files each writes. No torch here.

`--seeds 0-4` (or `--repeats 5`) trains the same settings once per seed; `--lr 0.3,0.6,1.2`
with them trains every value with every seed. Each run writes its own model, checkpoint
and metrics log, named from `--output` so a shell glob finds them:
`cifar_net.pth` -> `cifar_net.seed0.pth`, or `cifar_net.lr0.3.seed0.pth` in a grid.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from cifarctl.config import MAX_SEED
from cifarctl.errors import UsageError
from cifarctl.training.run_files import RunFiles, run_files

MAX_RUNS = 1000  # far more than anyone means to train in one command; more is a typo (0-99999)


@dataclass(frozen=True)
class PlannedRun:
    seed: int
    value: float | int | None  # the grid option's value; None when only the seed varies
    files: RunFiles


def parse_seeds(text: str) -> list[int]:
    """"0-4", "1,3,7" or "2-3,9": the seeds, in order, each once."""
    seeds: list[int] = []
    for part in text.split(","):
        first, dash, last = part.strip().partition("-")
        try:
            if not first.strip().isdigit() or (dash and not last.strip().isdigit()):
                raise ValueError
            low, high = int(first), int(last) if dash else int(first)
        except ValueError:
            raise UsageError(f"--seeds {text!r}: {part.strip()!r} is not a seed or a range like 0-4") from None
        if high < low:
            raise UsageError(f"--seeds {text!r}: the range {part.strip()} runs backwards; write {high}-{low}")
        if high > MAX_SEED:
            raise UsageError(f"--seeds {text!r}: seeds go up to {MAX_SEED}")
        if high - low + 1 + len(seeds) > MAX_RUNS:
            raise UsageError(f"--seeds {text!r} asks for more than {MAX_RUNS} runs; ask for fewer")
        seeds += [seed for seed in range(low, high + 1) if seed not in seeds]
    return seeds


def repeat_seeds(count: int, first: int | None) -> list[int]:
    """`--repeats N`: N seeds from `--seed` (default 0) upwards."""
    first = 0 if first is None else first
    if not 1 <= count <= MAX_RUNS:
        raise UsageError(f"--repeats {count}: give a number of runs from 1 to {MAX_RUNS}")
    if first + count - 1 > MAX_SEED:
        raise UsageError(f"--repeats {count} from --seed {first} goes past the largest seed {MAX_SEED}; "
                         "start from a smaller --seed")
    return list(range(first, first + count))


def run_output(output: Path, seed: int, option: str | None = None, value: float | int | None = None) -> Path:
    """The model file of one run: `NAME.seedS.pth`, or `NAME.OPTIONVALUE.seedS.pth` in a grid."""
    output = Path(output)
    stem, suffix = (output.name[:-4], ".pth") if output.suffix == ".pth" else (output.name, "")
    grid = f".{option}{value:g}" if option is not None else ""
    return output.with_name(f"{stem}{grid}.seed{seed}{suffix}")


def plan_runs(output: Path, seeds: list[int], option: str | None = None,
              values: list[float] | None = None) -> list[PlannedRun]:
    if not seeds:
        raise UsageError("no seeds to train; give --seeds or --repeats at least one")
    grid = values if option is not None and values else [None]
    if len(grid) * len(seeds) > MAX_RUNS:
        raise UsageError(f"{len(grid)} values x {len(seeds)} seeds is more than {MAX_RUNS} runs; ask for fewer")
    return [PlannedRun(seed, value, run_files(run_output(output, seed, option if value is not None else None, value)))
            for value in grid for seed in seeds]
