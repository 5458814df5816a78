"""How many image files per second `cifarctl predict` classifies with the tutorial's Net.

    python benchmarks/predict_throughput.py --data-dir /tmp/devdata [--count 10000] [--rounds 3]

Writes `--count` test images of the data dir (random pixels without one) as 32x32 PNG files
into a temporary folder, then times, alternating, in rounds:
- the whole process `cifarctl predict FOLDER --json` (Python start-up and torch import included);
- in-process `predict_files` (listing excluded; decoding and inference), with the decoder
  processes on every core and with decoding in the main process only.
The model is an untrained Net: the weights do not change the work.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

sys.path.insert(0, str(Path(__file__).parent))
from common import machine


def write_images(folder: Path, data_dir: Path | None, count: int, suffix: str) -> None:
    if data_dir is not None:
        from cifarctl.data.catalog import locate
        from cifarctl.data.memory import load_split

        pixels = load_split(locate(data_dir), "test").images[:count].permute(0, 2, 3, 1).numpy()
    else:
        pixels = np.random.default_rng(0).integers(0, 256, (count, 32, 32, 3), dtype=np.uint8)
    for index, image in enumerate(pixels):
        Image.fromarray(image).save(folder / f"{index:05d}{suffix}")


def whole_process(folder: Path, model: Path) -> float:
    command = [sys.executable, "-m", "cifarctl", "predict", str(folder), "--model", str(model), "--json"]
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        sys.exit(f"{' '.join(command)} failed ({done.returncode}):\n{done.stderr[-2000:]}")
    return seconds


def in_process(files: list[Path], model: Path, workers: int) -> float:
    from cifarctl.inference.images import ImageDecoder
    from cifarctl.inference.model_files import load_trained_model
    from cifarctl.inference.prediction import predict_files

    trained = load_trained_model(model)
    started = time.perf_counter()
    with ImageDecoder(files, "crop", workers) as decoder:
        result = predict_files(trained, decoder, torch.device("cpu"))
    seconds = time.perf_counter() - started
    assert len(result.paths) == len(files)
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data-dir", type=Path)
    parser.add_argument("--count", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--suffix", default=".png", choices=[".png", ".jpg"])
    args = parser.parse_args()

    from cifarctl.inference.images import list_inputs
    from cifarctl.models.net.network import Net

    with tempfile.TemporaryDirectory() as workdir:
        folder = Path(workdir) / "images"
        folder.mkdir()
        write_images(folder, args.data_dir, args.count, args.suffix)
        model = Path(workdir) / "net.pth"
        torch.save(Net().state_dict(), model)
        files = list_inputs([folder]).files
        timings: dict[str, list[float]] = {"process": [], "parallel": [], "main": []}
        for _ in range(args.rounds):
            timings["process"].append(whole_process(folder, model))
            timings["parallel"].append(in_process(files, model, workers=0))
            timings["main"].append(in_process(files, model, workers=1))

    def rate(name: str) -> str:
        seconds = statistics.median(timings[name])
        runs = ", ".join(f"{value:.2f}" for value in timings[name])
        return f"{args.count / seconds:,.0f} images/s ({seconds:.2f} s; runs {runs})"

    print(f"machine: {machine()}")
    print(f"{args.count:,} 32x32 {args.suffix} files, tutorial Net, median of {args.rounds} rounds")
    print("| what is timed | throughput |")
    print("|---|---|")
    print(f"| `cifarctl predict FOLDER --json`, whole process | {rate('process')} |")
    print(f"| decode + classify in-process, decoder processes on every core | {rate('parallel')} |")
    print(f"| decode + classify in-process, one process | {rate('main')} |")


if __name__ == "__main__":
    main()
