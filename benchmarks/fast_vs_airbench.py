"""cifarctl's fast recipe against the public speed records' own recipes on this CPU, at equal time.

The records (airbench94 and airbench94_muon, github KellerJordan/cifar10-airbench) run
through `shared/tools/airbench_cpu.py` (their own scripts, CUDA -> CPU, precision chosen as
`--precision auto` chooses it) on the data dir's batch files, with the epochs given for each,
chosen so each takes about the time wanted (e.g. 4 x the tutorial's T). Then, per seed,
`cifarctl train --model fast --time-budget (W - evaluate's time)` + `cifarctl evaluate`, where W
is the mean wall time of the record runs, so that cifarctl's whole processes take what the
records took. airbench's own seed cannot be set: its runs differ by chance as cifarctl's
differ by seed. Run it on an idle machine.

    python benchmarks/fast_vs_airbench.py --data-dir DATA --airbench GITDIR \\
        --records airbench94:2.5,airbench94_muon:2 --seeds 0,1,2 [--emulate-avx2]
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
from common import avx2_environment, cpu_flags, machine, timed

AIRBENCH_TOOL = Path(__file__).resolve().parents[2] / "shared" / "tools" / "airbench_cpu.py"


def run_record(tool: Path, gitdir: Path, batches: Path, script: str, epochs: str, workdir: str, env: dict,
               precision: list[str]) -> dict:
    _, out = timed([sys.executable, str(tool), "--airbench", str(gitdir), "--batches", str(batches), "--script",
                    script, "--epochs", epochs, "--runs", "1", *precision], workdir, env)
    line = next(line for line in out.splitlines() if line.startswith(f"{script}-cpu:"))
    return {"accuracy": 100 * float(re.search(r"Mean: ([0-9.]+)", line).group(1)),
            "total_s": float(re.search(r"wall_seconds=([0-9.]+)", line).group(1)), "epochs": float(epochs)}


def run_cifarctl(data_dir: Path, workdir: str, seed: int, length: list[str], env: dict, extra: list[str]) -> dict:
    base = [sys.executable, "-m", "cifarctl", "--data-dir", str(data_dir)]
    train_s, out = timed(base + ["train", "--model", "fast", *length, *extra, "--seed", str(seed), "-o", "fast.pth",
                                 "--restart", "--json"], workdir, env)
    trained = json.loads(out)
    eval_s, out = timed(base + ["evaluate", "--model", "fast.pth", "--json"], workdir, env)
    return {"accuracy": 100 * json.loads(out)["accuracy"], "train_s": train_s, "eval_s": eval_s,
            "total_s": train_s + eval_s, "epochs": trained["epochs_run"], "options": trained["model"],
            "precision": trained["precision"]}


def summary(runs: list[dict], key: str = "accuracy") -> str:
    values = [run[key] for run in runs]
    spread = statistics.stdev(values) if len(values) > 1 else float("nan")
    return f"{statistics.mean(values):.2f} ± {spread:.2f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--airbench", type=Path, required=True, help="git directory of cifar10-airbench")
    parser.add_argument("--tool", type=Path, default=AIRBENCH_TOOL)
    parser.add_argument("--records", default="airbench94:2.5,airbench94_muon:2",
                        help="SCRIPT:EPOCHS pairs, epochs chosen so each takes the time wanted")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--emulate-avx2", action="store_true",
                        help="ONEDNN_MAX_CPU_ISA=AVX2 ATEN_CPU_CAPABILITY=avx2 and fp32 for every process")
    parser.add_argument("--json", type=Path, help="also write every run here")
    args = parser.parse_args()
    batches = args.data_dir / "cifar-10-batches-py"
    seeds = [int(seed) for seed in args.seeds.split(",")]
    env = avx2_environment() if args.emulate_avx2 else None
    precision = ["--precision", "fp32"] if args.emulate_avx2 else []
    records = [pair.split(":") for pair in args.records.split(",")]
    print(f"machine: {machine()}; CPU flags: {cpu_flags()}{' (AVX2 emulated, fp32)' if env else ''}", flush=True)
    results: dict[str, list[dict]] = {}
    with tempfile.TemporaryDirectory() as workdir:
        for _ in seeds:
            for script, epochs in records:
                run = run_record(args.tool, args.airbench, batches, script, epochs, workdir, env, precision)
                results.setdefault(f"{script}, {epochs} epochs", []).append(run)
                print(f"{script} {epochs} epochs: {run}", flush=True)
        wall = statistics.mean(run["total_s"] for name, runs in results.items() for run in runs)
        eval_s = run_cifarctl(args.data_dir, workdir, 0, ["--steps", "20"], env, precision)["eval_s"]
        for seed in seeds:
            run = run_cifarctl(args.data_dir, workdir, seed, ["--time-budget", f"{wall - eval_s:.1f}s"], env,
                               precision)
            results.setdefault(f"cifarctl --time-budget {wall - eval_s:.0f}s + evaluate", []).append(run)
            print(f"cifarctl, seed {seed}: {run}", flush=True)
    print(f"\nthe records' mean wall time: {wall:.0f} s; cifarctl's evaluate took {eval_s:.1f} s")
    print("| run | n | held-out accuracy % (mean ± std) | wall s, whole processes (mean) | epochs |")
    print("|---|---|---|---|---|")
    for name, runs in results.items():
        print(f"| {name} | {len(runs)} | {summary(runs)} | {statistics.mean(run['total_s'] for run in runs):.0f} "
              f"| {statistics.mean(run['epochs'] for run in runs):.2f} |")
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
