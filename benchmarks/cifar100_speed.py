"""CIFAR-100 against CIFAR-10: import, training and evaluation speed of `--model fast` and `--model resnet18`.

Real CIFAR-100 cannot be downloaded on the development machines, so this writes a synthetic
CIFAR-100 of the official size (50,000 training and 10,000 test images of random pixels) in the
official `cifar-100-python/` layout and imports it with `cifarctl --dataset cifar100 download
--from`, the same code path the real archive takes. Its accuracy means nothing; its speed is
the real one. The CIFAR-10 side is the data dir given (the real development split works).
Each family trains the same number of steps on both, in alternating order, `--rounds` times;
the median images/s is reported with the CIFAR-100 / CIFAR-10 ratio.

    python benchmarks/cifar100_speed.py --data-dir DATA [--fast-steps 100] [--resnet-steps 12] [--rounds 2]
"""

from __future__ import annotations

import argparse
import json
import pickle
import statistics
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from common import cpu_flags, machine, timed

from cifarctl.data.catalog import CIFAR100_CLASSES


def write_synthetic_cifar100(root: Path, train: int = 50_000, test: int = 10_000) -> Path:
    folder = root / "cifar-100-python"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for name, count in (("train", train), ("test", test)):
        labels = np.arange(count) % 100
        rng.shuffle(labels)
        document = {"filenames": [f"{index}.png" for index in range(count)], "batch_label": name,
                    "fine_labels": labels.tolist(),
                    "coarse_labels": [CIFAR100_CLASSES.superclass_of[label] for label in labels.tolist()],
                    "data": rng.integers(0, 256, size=(count, 3072), dtype=np.uint8)}
        (folder / name).write_bytes(pickle.dumps(document, protocol=2))
    meta = {"fine_label_names": list(CIFAR100_CLASSES.names), "coarse_label_names": list(CIFAR100_CLASSES.superclasses)}
    (folder / "meta").write_bytes(pickle.dumps(meta, protocol=2))
    return folder


def train_speed(data_dir: Path, dataset: str, family: str, steps: int, workdir: str) -> float:
    output = Path(workdir) / f"{family}-{dataset}.pth"
    _, out = timed(["cifarctl", "--data-dir", str(data_dir), "--dataset", dataset, "--seed", "0", "train",
                    "--model", family, "--steps", str(steps), "--output", str(output), "--restart", "--json"], workdir)
    return json.loads(out)["images_per_second"]


def evaluate_seconds(data_dir: Path, dataset: str, family: str, workdir: str) -> float:
    model = Path(workdir) / f"{family}-{dataset}.pth"
    seconds, _ = timed(["cifarctl", "--data-dir", str(data_dir), "--dataset", dataset, "evaluate", "--model",
                        str(model), "--json"], workdir)
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, required=True, help="a data dir holding CIFAR-10")
    parser.add_argument("--fast-steps", type=int, default=100)
    parser.add_argument("--resnet-steps", type=int, default=12)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as workdir:
        work = Path(workdir)
        source = write_synthetic_cifar100(work / "source")
        data = work / "data"
        (data).mkdir()
        (data / "cifar-10-batches-py").symlink_to((args.data_dir / "cifar-10-batches-py").resolve())
        import_seconds, _ = timed(["cifarctl", "--data-dir", str(data), "--dataset", "cifar100", "download", "--from",
                                   str(source)], workdir)
        print(f"# {machine()}; CPU flags: {cpu_flags()}")
        print(f"import of the synthetic CIFAR-100 (60,000 images, official layout): {import_seconds:.1f} s")
        rows = []
        for family, steps in (("fast", args.fast_steps), ("resnet18", args.resnet_steps)):
            speeds: dict[str, list[float]] = {"cifar10": [], "cifar100": []}
            for round_index in range(args.rounds):
                order = ("cifar10", "cifar100") if round_index % 2 == 0 else ("cifar100", "cifar10")
                for dataset in order:
                    speeds[dataset].append(train_speed(data, dataset, family, steps, workdir))
            ten, hundred = (statistics.median(speeds[name]) for name in ("cifar10", "cifar100"))
            evaluation = {name: evaluate_seconds(data, name, family, workdir) for name in ("cifar10", "cifar100")}
            rows.append((family, steps, ten, hundred, evaluation))
            print(f"{family}: {steps} steps x {args.rounds} rounds; train images/s CIFAR-10 {ten:,.0f} "
                  f"({', '.join(f'{s:,.0f}' for s in speeds['cifar10'])}), CIFAR-100 {hundred:,.0f} "
                  f"({', '.join(f'{s:,.0f}' for s in speeds['cifar100'])}), ratio {hundred / ten:.3f}; "
                  f"evaluate (whole process, 10,000 test images) {evaluation['cifar10']:.1f} s vs "
                  f"{evaluation['cifar100']:.1f} s", flush=True)


if __name__ == "__main__":
    main()
