"""Small and imbalanced image folders: the batch fitted to the data; balanced sampling, class weights and neither.

Both parts build image folders from the development split (`tar -xzf
../shared/data/cifar10-dev-jpg.tar.gz -C /tmp` gives /tmp/CIFAR-10-dev), import them with
`cifarctl --dataset NAME download --from FOLDER`, train `--model fast` for several seeds per
arm, and measure every model with `cifarctl evaluate --json` on the split's 10,000 held-out
images (1,000 a class; the development split's, not the official test set):

- `small`: 72 images a class (720) for training. Arms: the recipe's batch 256 and lr 0.6 as
  given (`--batch-size 256 --lr 0.6`: 2 steps an epoch, 29 % of the images left out of each),
  against the batch `train` fits to the data without them. Same epochs.
- `imbalanced`: 4,000 training images of five classes and 400 of the other five (10:1).
  Arms: neither (`--sampling shuffle --class-weights none`); `--class-weights auto` (inverse
  class frequency in the loss); `--sampling balanced` (the default there: every class an equal
  share of each epoch, without replacement); and oversampling by hand: each small class's images linked
  ten times into the folder, so every epoch sees each of them ten times (each copy with its own
  random flip and translation). All at the same `--steps`, so every arm trains on as many images.

Reported per arm: accuracy, macro-F1 and the worst class's recall, mean ± std over the seeds.
Files go under --work (the data is never committed).

    python benchmarks/imbalanced_folders.py small --dev /tmp/CIFAR-10-dev --work /tmp/imb --seeds 0,1,2
    python benchmarks/imbalanced_folders.py imbalanced --dev /tmp/CIFAR-10-dev --work /tmp/imb --steps 430
    python benchmarks/imbalanced_folders.py imbalanced ... --width 32   # a narrower network: 4x faster on 2 cores
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from common import cpu_flags, machine

ROOT = Path(__file__).resolve().parents[1]
CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
SMALL_CLASSES = CLASSES[1::2]  # automobile, cat, dog, horse, truck: 400 images each in the 10:1 folder
OVERSAMPLE = 10


def cifarctl(*args: str, cwd: Path) -> str:
    """`python -m cifarctl ARGS` from this checkout; its stdout (fails loudly)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    command = [sys.executable, "-m", "cifarctl", *args]
    done = subprocess.run(command, cwd=cwd, capture_output=True, text=True, env=env)
    if done.returncode != 0:
        sys.exit(f"{' '.join(command)} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return done.stdout


def link_folder(dev: Path, target: Path, per_class: dict[str, int], copies: dict[str, int] | None = None) -> Path:
    """`target/train/<class>/` with the first `per_class[c]` training images (linked `copies[c]`
    times) and `target/test/<class>/` with all held-out images, for the classes `per_class` names."""
    if target.exists():
        return target
    for name in per_class:
        train = target / "train" / name
        train.mkdir(parents=True)
        for index in range(per_class[name]):
            source = dev / "train" / name / f"{index:04d}.jpg"
            for copy in range((copies or {}).get(name, 1)):
                os.link(source, train / f"{index:04d}-{copy}.jpg")
        test = target / "test" / name
        test.mkdir(parents=True)
        for source in sorted((dev / "test" / name).iterdir()):
            os.link(source, test / source.name)
    return target


def import_folder(folder: Path, data_dir: Path, dataset: str, work: Path) -> str:
    if (data_dir / dataset).exists():
        return ""
    return cifarctl("--data-dir", str(data_dir), "--dataset", dataset, "download", "--from", str(folder), cwd=work)


def train_and_measure(data_dir: Path, dataset: str, output: Path, seed: int, extra: list[str], work: Path,
                      threads: int) -> dict:
    """One training run (skipped when its model exists) and `evaluate --json` of it."""
    args = ["--data-dir", str(data_dir), "--dataset", dataset, "--seed", str(seed), "train", "--model", "fast",
            "--threads", str(threads), "-o", str(output), "--restart", *extra]
    started = time.perf_counter()
    if not output.exists():
        cifarctl(*args, "--json", cwd=work)
    seconds = time.perf_counter() - started
    result = json.loads(cifarctl("--data-dir", str(data_dir), "--dataset", dataset, "evaluate", "--model",
                                 str(output), "--json", cwd=work))
    recall = {name: value for name, value in result["per_class"].items() if value is not None}
    worst = min(recall, key=recall.get)
    return {"seed": seed, "accuracy": result["accuracy"], "macro_f1": result["macro_f1"], "worst_class": worst,
            "worst_recall": recall[worst], "recall": recall, "train_seconds": round(seconds, 1),
            "command": "cifarctl " + " ".join(args)}


def mean_std(values: list[float], scale: float = 100.0) -> str:
    spread = statistics.stdev(values) * scale if len(values) > 1 else float("nan")
    return f"{statistics.mean(values) * scale:.1f} ± {spread:.1f}"


def table(arms: dict[str, list[dict]]) -> str:
    lines = ["| arm | runs | accuracy % | macro-F1 (x100) | worst class's recall % | worst classes |",
             "|---|---|---|---|---|---|"]
    for arm, runs in arms.items():
        worst = ", ".join(sorted({run["worst_class"] for run in runs}))
        lines.append(f"| {arm} | {len(runs)} | {mean_std([r['accuracy'] for r in runs])} | "
                     f"{mean_std([r['macro_f1'] for r in runs])} | {mean_std([r['worst_recall'] for r in runs])} | "
                     f"{worst} |")
    return "\n".join(lines)


def small(args: argparse.Namespace) -> dict[str, list[dict]]:
    work, data_dir = args.work, args.work / "data"
    folder = link_folder(args.dev, work / "small720", dict.fromkeys(CLASSES, 72))
    import_folder(folder, data_dir, "small720", work)
    plans = (("recipe's batch 256, lr 0.6", ["--batch-size", "256", "--lr", "0.6"], "recipe"),
             ("batch fitted to the data (default)", [], "fitted"))
    arms: dict[str, list[dict]] = {arm: [] for arm, _, _ in plans}
    for seed in args.seeds:  # the arms alternate, so a slower stretch of the machine hits both
        for arm, extra, name in plans:
            run = train_and_measure(data_dir, "small720", work / f"small-{name}.seed{seed}.pth", seed,
                                    ["--epochs", str(args.epochs), *args.size, *extra], work, args.threads)
            arms[arm].append(run)
            print(f"{arm} seed {seed}: {json.dumps({k: v for k, v in run.items() if k != 'recall'})}", flush=True)
    return arms


def imbalanced(args: argparse.Namespace) -> dict[str, list[dict]]:
    work, data_dir = args.work, args.work / "data"
    counts = {name: 400 if name in SMALL_CLASSES else 4000 for name in CLASSES}
    import_folder(link_folder(args.dev, work / "imb10", counts), data_dir, "imb10", work)
    oversampled = link_folder(args.dev, work / "imb10-oversampled", counts, dict.fromkeys(SMALL_CLASSES, OVERSAMPLE))
    import_folder(oversampled, data_dir, "imb10os", work)
    neither = ["--sampling", "shuffle", "--class-weights", "none"]
    plans = {"neither (--sampling shuffle --class-weights none)": ("imb10", neither, "none"),
             "class weights (--class-weights auto)": ("imb10", ["--class-weights", "auto"], "auto"),
             "balanced sampling (--sampling balanced, the default)": ("imb10", ["--sampling", "balanced"], "sampling"),
             f"small classes' images linked {OVERSAMPLE}x into the folder": ("imb10os", neither, "oversampled")}
    chosen = [arm for arm in plans if args.arms is None or plans[arm][2] in args.arms]
    arms: dict[str, list[dict]] = {arm: [] for arm in chosen}
    for seed in args.seeds:
        for arm in arms:
            dataset, extra, name = plans[arm]
            run = train_and_measure(data_dir, dataset, work / f"imb-{name}.seed{seed}.pth", seed,
                                    ["--steps", str(args.steps), *args.size, *extra], work, args.threads)
            arms[arm].append(run)
            print(f"{arm} seed {seed}: {json.dumps({k: v for k, v in run.items() if k != 'recall'})}", flush=True)
    return arms


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("part", choices=("small", "imbalanced"))
    parser.add_argument("--dev", type=Path, required=True, help="the extracted CIFAR-10-dev folder")
    parser.add_argument("--work", type=Path, required=True, help="where folders, data and models go")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--epochs", type=int, default=10, help="small: epochs of every run")
    parser.add_argument("--steps", type=int, default=430, help="imbalanced: steps of every run (430 = 5 epochs)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--arms", default=None, help="imbalanced: none,auto,sampling,oversampled (default: all four)")
    parser.add_argument("--width", type=int, help="the fast network's width (default: the family's, 64)")
    args = parser.parse_args()
    args.size = ["--width", str(args.width)] if args.width else []
    args.seeds = [int(seed) for seed in args.seeds.split(",")]
    args.arms = None if args.arms is None else set(args.arms.split(","))
    args.work.mkdir(parents=True, exist_ok=True)
    args.work = args.work.resolve()
    print(f"machine: {machine()}; CPU flags: {cpu_flags()}", flush=True)
    arms = small(args) if args.part == "small" else imbalanced(args)
    (args.work / f"{args.part}.json").write_text(json.dumps(arms, indent=1))
    print(table(arms))


if __name__ == "__main__":
    main()
