"""Time the tutorial's own script against `cifarctl train` + `cifarctl evaluate`, end to end.

Both train the tutorial's Net for 2 epochs at batch size 4 on the same data and measure
test accuracy; the wall time of each whole process (imports included) is what counts.
Runs alternate (tutorial, cifarctl, tutorial, ...) so machine noise hits both alike.

    cifarctl --data-dir DATA download --from ../shared/data/CIFAR-10-dev   # once
    python benchmarks/train_vs_tutorial.py --data-dir DATA --rounds 2
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from common import machine, run_tutorial, timed


def run_cifarctl(data_dir: Path, workdir: str, seed: int) -> tuple[float, float]:
    train_seconds, _ = timed(["cifarctl", "--data-dir", str(data_dir), "train", "--epochs", "2", "--batch-size", "4",
                              "--seed", str(seed), "--json"], workdir)
    eval_seconds, out = timed(["cifarctl", "--data-dir", str(data_dir), "evaluate", "--model", "cifar_net.pth",
                               "--json"], workdir)
    return train_seconds + eval_seconds, 100 * json.loads(out)["accuracy"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--rounds", type=int, default=1)
    args = parser.parse_args()
    data_dir = args.data_dir.resolve()
    tutorial, ours = [], []
    with tempfile.TemporaryDirectory() as workdir:
        for round_number in range(args.rounds):
            tutorial.append(run_tutorial(data_dir, workdir))
            ours.append(run_cifarctl(data_dir, workdir, seed=round_number))
            print(f"round {round_number + 1}: tutorial {tutorial[-1][0]:.1f} s ({tutorial[-1][1]:.0f} %), "
                  f"cifarctl {ours[-1][0]:.1f} s ({ours[-1][1]:.1f} %)", file=sys.stderr)
    tutorial_time = statistics.median(seconds for seconds, _ in tutorial)
    our_time = statistics.median(seconds for seconds, _ in ours)
    print(f"machine: {machine()}")
    print("| run | wall time (train + evaluate) | test accuracy |")
    print("|---|---|---|")
    print(f"| tutorial script | {tutorial_time:.1f} s | {', '.join(f'{a:.0f} %' for _, a in tutorial)} |")
    print(f"| cifarctl train + evaluate | {our_time:.1f} s | {', '.join(f'{a:.1f} %' for _, a in ours)} |")
    print(f"| speed-up | {tutorial_time / our_time:.2f}x | |")


if __name__ == "__main__":
    main()
