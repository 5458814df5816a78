"""Real-data check of your-own-folder datasets: real CIFAR-10 images, a subset of classes, another size.

Builds `train/<class>/` and `test/<class>/` from the real development images (default: cat,
dog, ship and truck) upscaled to 64x64 PNGs, imports them as a dataset of their own with
`cifarctl download --dataset NAME --from FOLDER` (which brings them back to 32x32), trains
`--model fast` on them for `--epochs` with each seed, and evaluates: the accuracy must beat
chance (1 / classes) and the tables must name the folder's classes.

    python benchmarks/own_folder_check.py --images CIFAR-10-dev [--classes cat,dog,ship,truck] [--size 64]
           [--epochs 8] [--seeds 0,1,2]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from common import cpu_flags, machine, timed


def build_folder(images: Path, target: Path, classes: list[str], size: int) -> int:
    from PIL import Image

    written = 0
    for split in ("train", "test"):
        for name in classes:
            folder = target / split / name
            folder.mkdir(parents=True)
            for source in sorted((images / split / name).iterdir()):
                with Image.open(source) as image:
                    resized = image.convert("RGB").resize((size, size), Image.Resampling.BICUBIC)
                    resized.save(folder / f"{source.stem}.png")
                written += 1
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=Path, required=True, help="the extracted CIFAR-10-dev folder")
    parser.add_argument("--classes", default="cat,dog,ship,truck")
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--epochs", type=float, default=8)
    parser.add_argument("--seeds", default="0,1,2")
    args = parser.parse_args()
    classes = [name.strip() for name in args.classes.split(",")]
    with tempfile.TemporaryDirectory() as workdir:
        work = Path(workdir)
        count = build_folder(args.images, work / "folder", classes, args.size)
        data = ["--data-dir", str(work / "data"), "--dataset", "subset"]
        import_seconds, out = timed(["cifarctl", *data, "download", "--from", str(work / "folder"), "--json"], workdir)
        report = json.loads(out)
        print(f"# {machine()}; CPU flags: {cpu_flags()}")
        print(f"imported {count:,} {args.size}x{args.size} PNGs of {', '.join(classes)} in {import_seconds:.1f} s: "
              f"{report['counts']}; classes {report['classes']}; resized {report['resized']}")
        accuracies = []
        for seed in (int(text) for text in args.seeds.split(",")):
            model = work / f"subset{seed}.pth"
            timed(["cifarctl", *data, "--seed", str(seed), "train", "--model", "fast", "--epochs", str(args.epochs),
                   "--output", str(model)], workdir)
            _, out = timed(["cifarctl", *data, "evaluate", "--model", str(model), "--json"], workdir)
            result = json.loads(out)
            accuracies.append(100 * result["accuracy"])
            per_class = ", ".join(f"{name} {100 * value:.1f} %" for name, value in result["per_class"].items())
            print(f"seed {seed}: accuracy {100 * result['accuracy']:.2f} % (chance {100 * result['baseline']:.0f} %); "
                  f"per class {per_class}", flush=True)
        spread = statistics.stdev(accuracies) if len(accuracies) > 1 else 0.0
        print(f"mean over {len(accuracies)} seeds: {statistics.mean(accuracies):.2f} ± {spread:.2f} % "
              f"(chance {100 / len(classes):.0f} %)")


if __name__ == "__main__":
    main()
