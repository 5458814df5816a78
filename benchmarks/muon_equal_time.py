"""Muon on the conv filters (airbench94_muon's optimiser) against the fast recipe's SGD, at equal time.

Both arms build the fast recipe's parts with cifarctl's own `build_parts` (the network at the
size a budget picks on this machine, its whitening, the schedule, Lookahead, the low-resolution
start, label smoothing) and train them in the same compact loop for the same seconds: each arm
times its own steps first (full size and low resolution) and plans as many as the seconds
afford, as `--time-budget` does. The Muon arm moves the convolution filters of the three blocks
to `torch.optim.Muon` (momentum 0.6, Nesterov, 3 Newton-Schulz steps, each filter renormalised
after its step, as airbench94_muon does; its rate follows the recipe's schedule) and keeps SGD
for the rest. `torch.optim.Muon` takes 2-D parameters only, so it is given a 2-D view that
shares each filter's storage. Held-out accuracy with the recipe's mirror view, per seed, mean
± std. Run it on an idle machine.

    python benchmarks/muon_equal_time.py --data-dir DATA --seconds 100 --seeds 0,1,2
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from common import cpu_flags, machine

PROBE_STEPS = 5


def as_matrix(filters):
    """Filters (out, in, h, w) as a matrix with a row per output channel, in the columns' order of
    their memory (channels-last: h, w, in), so that it is a view. Muon's orthogonalised update is
    the same for any order of the columns."""
    return filters.permute(0, 2, 3, 1).reshape(len(filters), -1)


def muon_for_filters(parts, lr: float, ns_steps: int):
    """Take the blocks' conv filters out of the SGD groups; a Muon over their 2-D views."""
    import torch

    filters = [p for name, p in parts.network.named_parameters()
               if name.startswith("blocks.") and p.dim() == 4 and p.requires_grad]
    ids = {id(p) for p in filters}
    for group in parts.optimizer.param_groups:
        group["params"] = [p for p in group["params"] if id(p) not in ids]
    views = [torch.nn.Parameter(as_matrix(p.data)) for p in filters]
    assert all(view.data_ptr() == p.data_ptr() for view, p in zip(views, filters)), "the views must share storage"
    muon = torch.optim.Muon(views, lr=lr, momentum=0.6, nesterov=True, ns_steps=ns_steps, weight_decay=0.0)
    return filters, views, muon


def train_arm(arm: str, seed: int, seconds: float, args, data, test) -> dict:
    import torch

    from cifarctl.data.memory import epoch_permutation
    from cifarctl.inference.evaluation import evaluate
    from cifarctl.recipes.resolution import sized, step_size
    from cifarctl.training.parts import build_parts
    from cifarctl.training.settings import TrainSettings

    settings = TrainSettings.for_model("fast", {"width": args.width, "widen": 2}, seed=seed, threads=args.threads,
                                       precision="fp32", pick_size=False)
    recipe = settings.recipe
    device = torch.device("cpu")
    images, labels = data.images, data.labels
    steps_per_epoch = len(labels) // recipe.batch_size

    def build(total: int):
        parts = build_parts(settings, device, images, total_steps=total)
        muon = None
        if arm == "sgd+muon":
            muon = muon_for_filters(parts, args.muon_lr, args.ns_steps)
        return parts, muon

    def step(parts, muon, inputs, targets, multiplier: float) -> None:
        parts.optimizer.zero_grad(set_to_none=True)
        loss = parts.criterion(parts.model(inputs).float(), targets)
        loss.backward()
        parts.optimizer.step()
        if muon is not None:
            filters, views, optimizer = muon
            for filter_, view in zip(filters, views):
                view.grad = as_matrix(filter_.grad)
                filter_.grad = None
            for group in optimizer.param_groups:
                group["lr"] = args.muon_lr * multiplier
            optimizer.step()
            with torch.no_grad():
                for view in views:
                    view.mul_(len(view) ** 0.5 / view.norm())

    def timed_step(size: int) -> float:
        parts, muon = build(PROBE_STEPS + 1)
        batch = parts.normalized(images[: recipe.batch_size])
        inputs, targets = sized(batch, size), labels[: recipe.batch_size]
        step(parts, muon, inputs, targets, 1.0)
        started = time.perf_counter()
        for _ in range(PROBE_STEPS):
            step(parts, muon, inputs, targets, 1.0)
        return (time.perf_counter() - started) / PROBE_STEPS

    torch.set_num_threads(args.threads)
    full, low = timed_step(32), timed_step(recipe.low_res)
    share = recipe.low_res_share
    total = max(1, int(seconds / (share * low + (1 - share) * full)))
    torch.manual_seed(seed)
    parts, muon = build(total)
    peak = parts.optimizer.param_groups[0]["lr"]
    started = time.perf_counter()
    done, epoch = 0, 0
    while done < total:
        parts.at_epoch_start(epoch)
        inputs = parts.epoch_inputs(images, seed, epoch)
        order = epoch_permutation(len(labels), seed, epoch)
        for index in range(steps_per_epoch):
            if done >= total:
                break
            chosen = order[index * recipe.batch_size:(index + 1) * recipe.batch_size]
            batch = sized(inputs[chosen], step_size(recipe, done, total))
            step(parts, muon, batch, labels[chosen], parts.optimizer.param_groups[0]["lr"] / peak)
            parts.schedule.step()
            done += 1
            parts.averaging.after_step(done, total)
        epoch += 1
        parts.averaging.at_epoch_end(done >= total)
    train_seconds = time.perf_counter() - started
    network = parts.network.eval()
    result = evaluate(network, test, device, 1000, parts.mean, parts.std, tta=True, precision="fp32")
    return {"arm": arm, "seed": seed, "steps": total, "epochs": round(total / steps_per_epoch, 2),
            "step_seconds_full": round(full, 4), "step_seconds_low": round(low, 4),
            "train_seconds": round(train_seconds, 1), "accuracy": round(100 * result.accuracy, 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, required=True, help="a data dir with CIFAR-10 (the dev split)")
    parser.add_argument("--seconds", type=float, default=100.0, help="training seconds of every run")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--width", type=int, default=32, help="the fast network's first width")
    parser.add_argument("--muon-lr", type=float, default=0.24, help="Muon's peak rate (airbench94_muon: 0.24)")
    parser.add_argument("--ns-steps", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()

    from cifarctl.data.catalog import locate
    from cifarctl.data.memory import load_split

    place = locate(args.data_dir)
    data, test = load_split(place, "train"), load_split(place, "test")
    print(f"machine: {machine()}; CPU flags: {cpu_flags()}", flush=True)
    runs: dict[str, list[dict]] = {"sgd": [], "sgd+muon": []}
    for seed in (int(s) for s in args.seeds.split(",")):
        for arm in runs:  # the arms alternate, so a slower stretch of the machine hits both
            run = train_arm(arm, seed, args.seconds, args, data, test)
            runs[arm].append(run)
            print(json.dumps(run), flush=True)
    print(f"\n| optimiser (width {args.width}, {args.seconds:g} s of training) | n | held-out accuracy % "
          "(mirror TTA) | steps | full-size step s |")
    print("|---|---|---|---|---|")
    for arm, done in runs.items():
        accuracies = [run["accuracy"] for run in done]
        spread = statistics.stdev(accuracies) if len(accuracies) > 1 else 0.0
        print(f"| {arm} | {len(done)} | {statistics.mean(accuracies):.2f} ± {spread:.2f} "
              f"({', '.join(f'{a:.2f}' for a in accuracies)}) | {', '.join(str(r['steps']) for r in done)} "
              f"| {statistics.mean(r['step_seconds_full'] for r in done):.3f} |")


if __name__ == "__main__":
    main()
