"""A `cifarctl tune` study of a family on the development split, against the recipe's defaults at the same length.

The study searches on a validation split held out of the training images (the test split is
not read by `tune`); the best settings and the recipe's defaults are then each trained again
with the same fresh seeds (`--confirm-seeds`, `--compare-defaults`), and only their model
files are measured once on the test split, labelled as such. Prints the table for
docs/benchmarks.md. Resumable: the study lives in WORK/tune/tune.db, so the same command
continues where an interrupted one stopped. The full measurement takes hours (30 trials of
2 minutes, then 6 re-runs):

    python benchmarks/tune_study.py --work /tmp/tune-bench --archive ../shared/data/cifar10-dev-jpg.tar.gz
    python benchmarks/tune_study.py --work /tmp/tune-check --trials 3 --steps 20   # a check that it runs
    python benchmarks/tune_study.py --work /tmp/tune-steps --trials 12 --steps 150 --space width=32  # one width

The data are the development split, extracted from --archive and imported into WORK/data once
(`tar -xzf ARCHIVE -C WORK/src`, `cifarctl --data-dir WORK/data download --from
WORK/src/CIFAR-10-dev`); nothing is written outside WORK.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tarfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from common import cpu_flags, machine

ARCHIVE = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "cifar10-dev-jpg.tar.gz"  # ../shared/data


def cifarctl(*args: str, cwd: Path) -> dict:
    """Run the installed CLI with --json; its document (stderr goes to the terminal, for the live table)."""
    command = [sys.executable, "-m", "cifarctl", *args, "--json"]
    done = subprocess.run(command, cwd=cwd, stdout=subprocess.PIPE, text=True)
    if done.returncode != 0:
        sys.exit(f"{' '.join(command)} failed ({done.returncode})")
    return json.loads(done.stdout)


def dev_split(work: Path, archive: Path) -> Path:
    """WORK/data holding the development split as cifar10 (extracted and imported once)."""
    data = work / "data"
    if not (data / "cifar-10-batches-py").exists():
        source = work / "src"
        if not (source / "CIFAR-10-dev").exists():
            if not archive.is_file():
                sys.exit(f"{archive} is not there: give the development split's archive with --archive")
            source.mkdir(parents=True, exist_ok=True)
            with tarfile.open(archive) as packed:
                packed.extractall(source, filter="data")
        cifarctl("--data-dir", str(data), "download", "--from", str(source / "CIFAR-10-dev"), cwd=work)
    return data


def test_accuracy(data: Path, outputs: list[str], work: Path) -> dict:
    """The models' accuracy on the test split, measured once (n, mean, std, ci95)."""
    models = [argument for output in outputs for argument in ("--model", output)]
    document = cifarctl("--data-dir", str(data), "evaluate", *models, "--split", "test", cwd=work)
    return document["accuracy"] if len(outputs) > 1 else {"n": 1, "mean": document["accuracy"], "std": None,
                                                          "ci95": None}


def cell(summary: dict) -> str:
    if summary.get("std") is None:
        return f"{100 * summary['mean']:.2f} %"
    low, high = summary["ci95"]
    return f"{100 * summary['mean']:.2f} ± {100 * summary['std']:.2f} % ({100 * low:.2f}–{100 * high:.2f})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, required=True, help="scratch folder: data, study, models")
    parser.add_argument("--archive", type=Path, default=ARCHIVE)
    parser.add_argument("--model", default="fast")
    parser.add_argument("--trials", type=int, default=30)
    length = parser.add_mutually_exclusive_group()
    length.add_argument("--time-budget", default=None, help="each trial's and re-run's budget (default 2m)")
    length.add_argument("--steps", type=int, default=None, help="each trial's steps instead of a budget")
    parser.add_argument("--seeds", type=int, default=3, help="re-runs of the best settings and of the defaults")
    parser.add_argument("--seed", type=int, default=0, help="every trial's seed; the re-runs use the next ones")
    parser.add_argument("--jobs", type=int, default=1)
    parser.add_argument("--space", action="append", default=[], help="tune's --space (repeat it)")
    args = parser.parse_args()
    work = args.work.resolve()
    work.mkdir(parents=True, exist_ok=True)
    data = dev_split(work, args.archive)
    trial_length = ["--steps", str(args.steps)] if args.steps else ["--time-budget", args.time_budget or "2m"]
    command = ["--data-dir", str(data), "tune", "--model", args.model, "--trials", str(args.trials), *trial_length,
               "--val-split", "0.1", "--confirm-seeds", str(args.seeds), "--compare-defaults", "--seed",
               str(args.seed), "--jobs", str(args.jobs), *(part for space in args.space for part in ("--space", space))]
    started = time.perf_counter()
    study = cifarctl(*command, cwd=work)
    hours = (time.perf_counter() - started) / 3600
    if study["best"] is None:
        sys.exit("no trial finished: nothing to compare")
    rows = []
    for label, confirmation in (("best settings", study["confirmed"]), ("recipe's defaults", study["defaults"])):
        outputs = [run["output"] if Path(run["output"]).is_absolute() else str(work / run["output"])
                   for run in confirmation["runs"]]
        settings = ", ".join(f"{name} {value:g}" for name, value in confirmation["settings"].items()) or "—"
        rows.append((label, settings, cell(confirmation), cell(test_accuracy(data, outputs, work))))

    counts = study["counts"]
    comparison = study["comparison"]
    again = (f"--model {args.model} --trials {args.trials} {' '.join(trial_length)} --seeds {args.seeds} "
             f"--seed {args.seed}{''.join(f' --space {space}' for space in args.space)}")
    print(f"`cifarctl {' '.join(command[2:])}` on the development split "
          f"(`python benchmarks/tune_study.py --work WORK {again}`)")
    print(f"{machine()}; CPU flags: {cpu_flags()}")
    print(f"study: {counts['complete']} complete, {counts['pruned']} pruned, {counts['failed']} failed "
          f"(pruner {study['pruner']}); {hours:.2f} h in all with the re-runs; importances: "
          + ", ".join(f"{name} {share:.2f}" for name, share in (study["importances"] or {}).items()))
    print()
    print(f"| settings ({args.seeds} seeds each) | values | validation accuracy (95 % interval) "
          "| test accuracy (95 % interval) |")
    print("|---|---|---|---|")
    for label, settings, validation, test in rows:
        print(f"| {label} | {settings} | {validation} | {test} |")
    print()
    p_value = "—" if comparison["p_value"] is None else f"{comparison['p_value']:.3f}"
    print(f"best - defaults on the validation split: {100 * comparison['gap']:+.2f} points, Welch's p = {p_value}: "
          f"{comparison['verdict']} (the test split was read once, for this table only)")


if __name__ == "__main__":
    main()
