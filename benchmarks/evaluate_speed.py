"""How long `cifarctl evaluate` of a fast model takes, as a whole process and per test-time view.

Trains a fast model briefly if none is given (its accuracy does not matter here), then times
`cifarctl evaluate --model M --json` as whole processes with test-time augmentation off (1
view) and on (2 views), `--rounds` times each (the median is reported), and in one process the
parts: importing torch, loading the split, loading the model, and the forward passes of one view.

    python benchmarks/evaluate_speed.py --data-dir DATA [--model fast.pth] [--rounds 3]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from common import cpu_flags, machine, timed

PARTS = """
import sys, time
started = time.perf_counter()
import torch
imported = time.perf_counter()
from cifarctl.data.catalog import locate
from cifarctl.data.memory import load_split
from cifarctl.inference import EVALUATION_BATCH
from cifarctl.inference.evaluation import predict_probabilities
from cifarctl.inference.model_files import load_trained_model
data = load_split(locate(sys.argv[1]), "test")
loaded_data = time.perf_counter()
trained = load_trained_model(sys.argv[2])
loaded_model = time.perf_counter()
predict_probabilities(trained.network, data.images, torch.device("cpu"), EVALUATION_BATCH, trained.mean, trained.std,
                      False, trained.precision)
one_view = time.perf_counter()
print(f"{imported - started:.2f} {loaded_data - imported:.2f} {loaded_model - loaded_data:.2f} "
      f"{one_view - loaded_model:.2f}")
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--model", type=Path)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    base = [sys.executable, "-m", "cifarctl", "--data-dir", str(args.data_dir)]
    with tempfile.TemporaryDirectory() as workdir:
        model = args.model
        if model is None:
            model = Path(workdir) / "fast.pth"
            timed(base + ["train", "--model", "fast", "--steps", "30", "--seed", "0", "-o", str(model)], workdir)
        whole = {}
        for views, flag in ((1, "--no-tta"), (2, "--tta")):
            whole[views] = statistics.median(
                timed(base + ["evaluate", "--model", str(model), flag, "--json"], workdir)[0]
                for _ in range(args.rounds))
        parts = subprocess.run([sys.executable, "-c", PARTS, str(args.data_dir), str(model)], capture_output=True,
                               text=True, check=True).stdout.split()
    torch_s, data_s, model_s, view_s = (float(value) for value in parts)
    print(f"machine: {machine()}; CPU flags: {cpu_flags()}; median of {args.rounds}")
    print("| evaluate of a fast model, 10,000 images | seconds |")
    print("|---|---|")
    print(f"| whole process, 1 view (`--no-tta`) | {whole[1]:.2f} |")
    print(f"| whole process, 2 views (the default, `--tta`) | {whole[2]:.2f} |")
    print(f"| of which: importing torch | {torch_s:.2f} |")
    print(f"| loading the test split | {data_s:.2f} |")
    print(f"| loading the model | {model_s:.2f} |")
    print(f"| one view's forward passes (in one process) | {view_s:.2f} |")
    print(f"| each further view (whole-process difference) | {whole[2] - whole[1]:.2f} |")


if __name__ == "__main__":
    main()
