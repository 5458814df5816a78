"""The fast recipe's ingredients, one at a time, at equal epochs: what each adds to accuracy.

Each row is the recipe with some fields changed (the first row is the recipe as it was before
airbench94's ingredients were added); each row trains `--seeds` seeds for `--epochs` epochs
through the training loop's Python API and is evaluated on the held-out split with no
test-time augmentation, the mirror (2 views) and airbench's 6 views (mirror x {none, 1-pixel
shifts up-left and down-right}, weighted 1/2 for the unshifted pair). Accuracy at equal epochs
does not depend on how busy the machine is; the images/s column does.

    python benchmarks/fast_recipe_ablation.py --data-dir DATA --epochs 4 --seeds 0,1
    python benchmarks/fast_recipe_ablation.py --data-dir DATA --rows 'all;airbench-width' --epochs 9.9
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).parent))
from common import cpu_flags, machine

from cifarctl.data.catalog import locate
from cifarctl.data.memory import load_split, normalize
from cifarctl.inference.model_files import load_trained_model
from cifarctl.models import registry
from cifarctl.recipes.precision import autocast
from cifarctl.training.loop import train
from cifarctl.training.run_files import run_files
from cifarctl.training.settings import TrainSettings

FAST = registry.get("fast").recipe
BEFORE = {"weight_decay": 2e-6, "lookahead": 0, "freeze_stem_after": 0, "drop_last": False, "lr_end": 0.0,
          "warmup": 0.2}
ROWS = {
    "round-2 recipe fields": BEFORE,
    "+ airbench weight decay": {**BEFORE, "weight_decay": FAST.weight_decay},
    "+ Lookahead": {**BEFORE, "weight_decay": FAST.weight_decay, "lookahead": FAST.lookahead},
    "+ stem bias frozen after 3 epochs": {**BEFORE, "weight_decay": FAST.weight_decay, "lookahead": FAST.lookahead,
                                          "freeze_stem_after": FAST.freeze_stem_after},
    "+ airbench schedule (23 % up, down to 0.07)": {**BEFORE, "weight_decay": FAST.weight_decay,
                                                    "lookahead": FAST.lookahead,
                                                    "freeze_stem_after": FAST.freeze_stem_after,
                                                    "lr_end": FAST.lr_end, "warmup": FAST.warmup},
    "all (+ drop last batch) = the recipe": {},
    "the recipe without Lookahead": {"lookahead": 0},
    "the recipe without weight decay fix": {"weight_decay": 2e-6},
}
MODEL_OPTIONS = {"airbench-width": {"width": 64, "widen": 4}}


@torch.no_grad()
def accuracies(model, images, labels, mean, std, precision) -> dict[str, float]:
    """Accuracy with 1, 2 and 6 test-time views, and seconds per view."""
    model.eval()
    device = torch.device("cpu")
    views = {"1": [], "2": [], "6": []}
    started = time.perf_counter()
    for start in range(0, len(images), 1000):
        batch = normalize(images[start:start + 1000], mean, std).contiguous(memory_format=torch.channels_last)
        with autocast(device, precision):
            plain = model(batch).float()
            mirrored = model(batch.flip(-1)).float()
            padded = F.pad(batch, (1,) * 4, mode="reflect")
            shifted = [padded[:, :, :32, :32], padded[:, :, 2:, 2:]]
            shifted_logits = [(model(s).float() + model(s.flip(-1)).float()) / 2 for s in shifted]
        views["1"].append(plain)
        views["2"].append((plain + mirrored) / 2)
        views["6"].append(0.5 * (plain + mirrored) / 2 + 0.5 * torch.stack(shifted_logits).mean(0))
    seconds_per_view = (time.perf_counter() - started) / 6
    result = {name: float((torch.cat(logits).argmax(1) == labels).float().mean()) for name, logits in views.items()}
    result["seconds_per_view"] = seconds_per_view
    return result


def run(data, test, overrides: dict, options: dict, epochs: float, seed: int) -> dict:
    settings = TrainSettings.for_model("fast", options, seed=seed, epochs=epochs, **overrides)
    with tempfile.TemporaryDirectory() as folder:
        result = train(settings, data, run_files(Path(folder) / "model.pth"))
        trained = load_trained_model(Path(folder) / "model.pth")
    measured = accuracies(trained.network, test.images, test.labels, trained.mean, trained.std, trained.precision)
    measured["images_per_second"] = result.images_per_second
    return measured


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--epochs", type=float, default=4)
    parser.add_argument("--seeds", default="0,1")
    parser.add_argument("--rows", default="ablation", help="'ablation' (all ROWS), or names of ROWS / MODEL_OPTIONS "
                                                           "separated by ';'")
    parser.add_argument("--json", type=Path, help="also write every run's numbers here")
    args = parser.parse_args()
    seeds = [int(seed) for seed in args.seeds.split(",")]
    data, test = load_split(locate(args.data_dir), "train"), load_split(locate(args.data_dir), "test")
    wanted = list(ROWS) if args.rows == "ablation" else [row.strip() for row in args.rows.split(";")]
    print(f"machine: {machine()}; CPU flags: {cpu_flags()}; {args.epochs:g} epochs, seeds {seeds}", flush=True)
    print("| recipe | 1 view | mirror (2 views) | 6 views | images/s | s per view (10,000 images) |")
    print("|---|---|---|---|---|---|", flush=True)
    everything = {}
    for name in wanted:
        overrides = {} if name in MODEL_OPTIONS or name == "all" else ROWS[name]
        options = MODEL_OPTIONS.get(name, {})
        runs = []
        for seed in seeds:
            runs.append(run(data, test, overrides, options, args.epochs, seed))
            print(f"{name}, seed {seed}: {runs[-1]}", file=sys.stderr, flush=True)
        everything[name] = runs

        def cell(key: str, runs: list = runs) -> str:
            values = [100 * r[key] for r in runs]
            spread = statistics.stdev(values) if len(values) > 1 else 0.0
            return f"{statistics.mean(values):.2f} ± {spread:.2f}"

        print(f"| {name} | {cell('1')} | {cell('2')} | {cell('6')} | "
              f"{statistics.mean(r['images_per_second'] for r in runs):,.0f} | "
              f"{statistics.mean(r['seconds_per_view'] for r in runs):.2f} |", flush=True)
    if args.json:
        args.json.write_text(json.dumps(everything, indent=1))


if __name__ == "__main__":
    main()
