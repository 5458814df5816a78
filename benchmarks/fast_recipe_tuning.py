"""One training run of a model with recipe overrides, and its held-out accuracy (with and without
test-time augmentation): how the fast recipe's batch size and learning rate were chosen.

Runs at a fixed number of steps compare recipes at equal numbers of images; the accuracy does
not depend on how busy the machine is, the images/s do.

    python benchmarks/fast_recipe_tuning.py --data-dir DATA '{"steps": 120, "batch_size": 256, "lr": 0.6}'
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
from common import cpu_flags, machine

from cifarctl.data.catalog import locate
from cifarctl.data.memory import load_split
from cifarctl.inference import EVALUATION_BATCH
from cifarctl.inference.evaluation import evaluate
from cifarctl.inference.model_files import load_trained_model
from cifarctl.training.loop import train
from cifarctl.training.run_files import run_files
from cifarctl.training.settings import TrainSettings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--model", default="fast")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("overrides", help='recipe fields and "steps" as JSON, e.g. {"steps": 60, "lr": 0.75}')
    args = parser.parse_args()
    overrides = json.loads(args.overrides)
    data, test = load_split(locate(args.data_dir), "train"), load_split(locate(args.data_dir), "test")
    settings = TrainSettings.for_model(args.model, seed=args.seed, **overrides)
    with tempfile.TemporaryDirectory() as folder:
        result = train(settings, data, run_files(Path(folder) / "model.pth"))
        trained = load_trained_model(Path(folder) / "model.pth")
    accuracy = {}
    for tta in (False, True):
        started = time.perf_counter()
        accuracy[tta] = evaluate(trained.network, test, torch.device("cpu"), EVALUATION_BATCH, trained.mean,
                                 trained.std, tta, trained.precision).accuracy
        print(f"evaluation with tta={tta}: {time.perf_counter() - started:.1f} s", file=sys.stderr)
    print(f"machine: {machine()}; CPU flags: {cpu_flags()}")
    print(f"| {json.dumps(overrides)} | {result.steps * settings.batch_size:,} images | "
          f"{100 * accuracy[False]:.1f} % | {100 * accuracy[True]:.1f} % | {result.images_per_second:,.0f} | "
          f"{result.precision} |")


if __name__ == "__main__":
    main()
