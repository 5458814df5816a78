"""The fast recipe against the tutorial's own script, on the same machine in the same run.

First the tutorial's script runs (2 epochs of Net at batch 4, then its evaluation); its wall
time is T. Then `cifarctl train --model fast --time-budget T*k` + `cifarctl evaluate` run for
each multiple k, and the table reports accuracy and whole-process wall times as multiples of T.

    python benchmarks/fast_vs_tutorial.py --data-dir DATA --seeds 3                 # the --time-budget T check
    python benchmarks/fast_vs_tutorial.py --data-dir DATA --seeds 3 --emulate-avx2  # as an AVX2 CPU, fp32
    python benchmarks/fast_vs_tutorial.py --data-dir DATA --multiples 1,2,4 --seeds 2   # the frontier
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from common import avx2_environment, cpu_flags, machine, run_tutorial, timed


def run_fast(data_dir: Path, workdir: str, budget: float, seed: int, extra: list[str], env: dict | None) -> dict:
    base = [sys.executable, "-m", "cifarctl", "--data-dir", str(data_dir)]
    train_seconds, out = timed(base + ["train", "--model", "fast", "--time-budget", f"{budget:.1f}s",
                                       "--seed", str(seed), "-o", "fast.pth", "--restart", "--json", *extra],
                               workdir, env)
    trained = json.loads(out)
    eval_seconds, out = timed(base + ["evaluate", "--model", "fast.pth", "--json"], workdir, env)
    return {"train_s": train_seconds, "eval_s": eval_seconds, "total_s": train_seconds + eval_seconds,
            "accuracy": 100 * json.loads(out)["accuracy"], "steps": trained["total_steps"],
            "epochs": trained["epochs_run"], "precision": trained["precision"],
            "images_per_second": trained["images_per_second"],
            "size": "/".join(str(trained["model"][key]) for key in ("width", "widen"))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--multiples", default="1", help="budgets as multiples of T, e.g. 1,2,4,8,16")
    parser.add_argument("--seeds", type=int, default=1, help="runs per budget")
    parser.add_argument("--tutorial-seconds", type=float, help="reuse a T measured earlier in this session")
    parser.add_argument("--emulate-avx2", action="store_true",
                        help="ONEDNN_MAX_CPU_ISA=AVX2 ATEN_CPU_CAPABILITY=avx2 and fp32 for every process")
    parser.add_argument("extra", nargs="*", help="more options for cifarctl train (after --)")
    args = parser.parse_args()
    data_dir = args.data_dir.resolve()
    env = avx2_environment() if args.emulate_avx2 else None
    extra = [*args.extra, *(["--precision", "fp32"] if args.emulate_avx2 else [])]
    with tempfile.TemporaryDirectory() as workdir:
        if args.tutorial_seconds:
            tutorial_seconds, tutorial_accuracy = args.tutorial_seconds, float("nan")
        else:
            tutorial_seconds, tutorial_accuracy = run_tutorial(data_dir, workdir, env)
            print(f"tutorial: {tutorial_seconds:.1f} s, {tutorial_accuracy:.0f} %", file=sys.stderr, flush=True)
        rows = []
        for multiple in [float(text) for text in args.multiples.split(",")]:
            runs = []
            for seed in range(args.seeds):
                run = run_fast(data_dir, workdir, multiple * tutorial_seconds, seed, extra, env)
                runs.append(run)
                print(f"{multiple:g} x T, seed {seed}: {json.dumps(run)}", file=sys.stderr, flush=True)
            rows.append((multiple, runs))
    print(f"machine: {machine()}; CPU flags: {cpu_flags()}{' (AVX2 emulated, fp32)' if env else ''}")
    print(f"T (tutorial script, train + evaluate): {tutorial_seconds:.1f} s, accuracy {tutorial_accuracy:.0f} %")
    print("| budget | train + evaluate wall time | x T | train process / budget (worst) | evaluate / T "
          "| held-out accuracy | size | steps (epochs) | images/s |")
    print("|---|---|---|---|---|---|---|---|---|")
    for multiple, runs in rows:
        accuracies = [run["accuracy"] for run in runs]
        total = statistics.mean(run["total_s"] for run in runs)
        spread = f" ± {statistics.stdev(accuracies):.2f}" if len(runs) > 1 else ""
        kept = [run["train_s"] / (multiple * tutorial_seconds) for run in runs]
        worst = max(kept, key=lambda ratio: abs(ratio - 1))
        evaluate = statistics.mean(run["eval_s"] for run in runs) / tutorial_seconds
        print(f"| {multiple:g} x T | {total:.1f} s | {total / tutorial_seconds:.2f} | {worst:.3f} | {evaluate:.3f} | "
              f"{statistics.mean(accuracies):.1f} %{spread} (n={len(runs)}) | {runs[0]['size']} | {runs[0]['steps']} "
              f"({runs[0]['epochs']:.2f}) | {statistics.mean(run['images_per_second'] for run in runs):,.0f} |")


if __name__ == "__main__":
    main()
