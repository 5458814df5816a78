"""The fast recipe's ingredients at equal time: what each buys in the same seconds on this CPU.

Each row is the fast recipe with some fields or model options changed; every row trains with
the same `--time-budget` (seconds counted from the start of its `train()` call, through the
Python API: the same start-up for all rows), seeds alternating between rows so a drift of the
machine's speed shares out, and is measured on the held-out split as `cifarctl evaluate` does
(the family's inference form, the recipe's test-time views). Run it on an idle machine. A row
"- TTA" trains for the extra view's time too (`--view-seconds`), so equal time holds for it.

    python benchmarks/fast_ablation_time.py --data-dir DATA --budget 148 --seeds 0,1,2 \\
        --rows 'recipe;- low-res start;old size (64/2)'
    python benchmarks/fast_ablation_time.py ... --emulate-avx2     # rerun itself as an AVX2 CPU, fp32
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from common import avx2_environment, cpu_flags, machine

# Rows: (model options, recipe fields, evaluate with test-time views) over the recipe's own.
ROWS = {
    "recipe": ({}, {}, None),
    "- low-res start": ({}, {"low_res_share": 0.0}, None),
    "- TTA": ({}, {}, False),
    "- Lookahead": ({}, {"lookahead": 0}, None),
    "+ Muon on the conv filters": ({}, {"optimizer": "sgd+muon"}, None),
    "old size (64/2)": ({"width": 64, "widen": 2}, {}, None),
    "old recipe (64/2, no low-res start)": ({"width": 64, "widen": 2}, {"low_res_share": 0.0}, None),
}


def run_row(name: str, seed: int, budget: float, args, data, test) -> dict:
    import torch

    from cifarctl.inference.evaluation import evaluate
    from cifarctl.inference.model_files import load_trained_model
    from cifarctl.training.context import Context
    from cifarctl.training.loop import train
    from cifarctl.training.run_files import run_files
    from cifarctl.training.settings import TrainSettings

    options, recipe, tta = ROWS[name]
    extra = args.view_seconds if tta is False else 0.0
    precision = "fp32" if args.emulate_avx2 else None
    settings = TrainSettings.for_model("fast", options, seed=seed, time_budget=budget + extra, threads=args.threads,
                                       pick_size=not options, precision=precision, **recipe)
    with tempfile.TemporaryDirectory() as folder:
        files = run_files(Path(folder) / "model.pth")
        result = train(settings, data, files, context=Context(started=time.perf_counter()))
        trained = load_trained_model(files.output, torch.device("cpu"))
        use_tta = trained.tta if tta is None else tta
        measured = evaluate(trained.inference_network, test, torch.device("cpu"), 250, trained.mean, trained.std,
                            use_tta, trained.precision)
    return {"row": name, "seed": seed, "accuracy": 100 * measured.accuracy, "steps": result.total_steps,
            "epochs": result.planned_epochs, "size": "/".join(str(value) for value in result.model.options.values()),
            "train_s": result.seconds}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--budget", type=float, required=True, help="seconds of training per run")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--rows", default="recipe;- low-res start", help=f"';'-separated, of: {'; '.join(ROWS)}")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--view-seconds", type=float, default=0.0,
                        help="what one test-time view of the held-out split costs (the '- TTA' row trains that long)")
    parser.add_argument("--emulate-avx2", action="store_true",
                        help="as an AVX2 CPU (oneDNN and ATen held to AVX2), fp32")
    parser.add_argument("--json", type=Path, help="also write every run here")
    args = parser.parse_args()
    if args.emulate_avx2 and os.environ.get("ATEN_CPU_CAPABILITY") != "avx2":
        os.execve(sys.executable, [sys.executable, *sys.argv], avx2_environment())  # the variables act at start-up
    from cifarctl.data.catalog import locate
    from cifarctl.data.memory import load_split

    rows = [row.strip() for row in args.rows.split(";")]
    unknown = [row for row in rows if row not in ROWS]
    if unknown:
        sys.exit(f"unknown row {unknown[0]!r}; rows are: {'; '.join(ROWS)}")
    import torch

    place = locate(args.data_dir)
    data, test = load_split(place, "train"), load_split(place, "test")
    print(f"machine: {machine()}; CPU flags: {cpu_flags()}; capability {torch.backends.cpu.get_cpu_capability()}"
          f"{' (AVX2 emulated, fp32)' if args.emulate_avx2 else ''}; budget {args.budget:g} s per run", flush=True)
    runs = []
    for seed in (int(text) for text in args.seeds.split(",")):
        for row in rows:
            runs.append(run_row(row, seed, args.budget, args, data, test))
            print(json.dumps(runs[-1]), file=sys.stderr, flush=True)
    print("| row | n | held-out accuracy % (mean ± std) | size | steps | epochs |")
    print("|---|---|---|---|---|---|")
    for row in rows:
        mine = [run for run in runs if run["row"] == row]
        values = [run["accuracy"] for run in mine]
        spread = statistics.stdev(values) if len(values) > 1 else float("nan")
        steps, epochs = (statistics.mean(run[key] for run in mine) for key in ("steps", "epochs"))
        print(f"| {row} | {len(mine)} | {statistics.mean(values):.2f} ± {spread:.2f} | {mine[0]['size']} | "
              f"{steps:.0f} | {epochs:.2f} |")
    if args.json:
        args.json.write_text(json.dumps(runs, indent=1))


if __name__ == "__main__":
    main()
