"""cifarctl's fast recipe against the public speed record's own recipe (airbench94) on this CPU.

Both see the same images: airbench94 runs through `shared/tools/airbench_cpu.py` (its script,
unchanged but for CUDA -> CPU with bf16 autocast) on the data dir's batch files, cifarctl as
two whole processes (`train`, then `evaluate`). Per seed and per airbench length E:

- airbench94 at E epochs: its wall time W (whole process) and its 6-view TTA accuracy;
- equal epochs: `cifarctl train --model fast --width 64 --model-option widen=4 --epochs E`
  (airbench94's widths) + `evaluate`;
- equal time: `cifarctl train --model fast --time-budget (W - evaluate's time)` + `evaluate`,
  so that train + evaluate fit in W.

airbench94's own seed cannot be set, so its runs differ by chance as cifarctl's differ by seed.
Accuracy at equal epochs does not depend on how busy the machine is; the equal-time rows do:
run those on an otherwise idle machine.

    python benchmarks/fast_vs_airbench.py --data-dir DATA --airbench GITDIR --epochs 6,9.9 --seeds 0,1,2
    python benchmarks/fast_vs_airbench.py ... --compare epochs     # only the equal-epoch rows
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from common import cpu_flags, machine, timed

AIRBENCH_TOOL = Path(__file__).resolve().parents[2] / "shared" / "tools" / "airbench_cpu.py"
WIDE = ["--width", "64", "--model-option", "widen=4"]


def run_airbench(tool: Path, gitdir: Path, batches: Path, epochs: str, workdir: str) -> dict:
    _seconds, out = timed([sys.executable, str(tool), "--airbench", str(gitdir), "--batches", str(batches),
                          "--epochs", epochs, "--runs", "1"], workdir)
    line = next(line for line in out.splitlines() if line.startswith("airbench94-cpu:"))
    return {"accuracy": 100 * float(re.search(r"Mean: ([0-9.]+)", line).group(1)),
            "total_s": float(re.search(r"wall_seconds=([0-9.]+)", line).group(1))}


def run_cifarctl(data_dir: Path, workdir: str, seed: int, length: list[str], extra: list[str]) -> dict:
    base = [sys.executable, "-m", "cifarctl", "--data-dir", str(data_dir)]
    train_s, out = timed(base + ["train", "--model", "fast", *length, *extra, "--seed", str(seed), "-o", "fast.pth",
                                 "--restart", "--json"], workdir)
    trained = json.loads(out)
    eval_s, out = timed(base + ["evaluate", "--model", "fast.pth", "--json"], workdir)
    return {"accuracy": 100 * json.loads(out)["accuracy"], "train_s": train_s, "eval_s": eval_s,
            "total_s": train_s + eval_s, "epochs": trained["epochs_run"], "options": trained["model"],
            "threads": trained["config"].get("threads")}


def summary(runs: list[dict], key: str = "accuracy") -> str:
    values = [run[key] for run in runs]
    spread = statistics.stdev(values) if len(values) > 1 else float("nan")
    return f"{statistics.mean(values):.2f} ± {spread:.2f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--airbench", type=Path, required=True, help="git directory of cifar10-airbench")
    parser.add_argument("--tool", type=Path, default=AIRBENCH_TOOL)
    parser.add_argument("--epochs", default="6,9.9")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--compare", choices=["both", "epochs", "time"], default="both")
    parser.add_argument("--json", type=Path, help="also write every run here")
    args = parser.parse_args()
    batches = args.data_dir / "cifar-10-batches-py"
    seeds = [int(seed) for seed in args.seeds.split(",")]
    print(f"machine: {machine()}; CPU flags: {cpu_flags()}", flush=True)
    results: dict[str, list[dict]] = {}
    with tempfile.TemporaryDirectory() as workdir:
        for epochs in args.epochs.split(","):
            for seed in seeds:
                airbench = run_airbench(args.tool, args.airbench, batches, epochs, workdir)
                results.setdefault(f"airbench94, {epochs} epochs", []).append(airbench)
                print(f"airbench94 {epochs} epochs: {airbench}", flush=True)
                eval_s = None
                if args.compare in ("both", "epochs"):
                    same = run_cifarctl(args.data_dir, workdir, seed, ["--epochs", epochs], WIDE)
                    results.setdefault(f"cifarctl, airbench widths, {epochs} epochs", []).append(same)
                    print(f"cifarctl {epochs} epochs, seed {seed}: {same}", flush=True)
                    eval_s = same["eval_s"]
                if args.compare in ("both", "time"):
                    if eval_s is None:
                        eval_s = run_cifarctl(args.data_dir, workdir, seed, ["--steps", "20"], [])["eval_s"]
                    budget = airbench["total_s"] - eval_s
                    timed_run = run_cifarctl(args.data_dir, workdir, seed, ["--time-budget", f"{budget:.1f}s"], [])
                    timed_run["airbench_s"] = airbench["total_s"]
                    results.setdefault(f"cifarctl --time-budget = airbench94's {epochs}-epoch time", []).append(timed_run)
                    print(f"cifarctl in {airbench['total_s']:.0f} s, seed {seed}: {timed_run}", flush=True)
    print("\n| run | n | accuracy % (mean ± std) | wall s, train + evaluate (mean) |")
    print("|---|---|---|---|")
    for name, runs in results.items():
        print(f"| {name} | {len(runs)} | {summary(runs)} | {statistics.mean(run['total_s'] for run in runs):.0f} |")
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
