"""Does `predict` on image files say what `evaluate` says on the same images?

    python benchmarks/predict_vs_evaluate.py --data-dir /tmp/devdata --images /tmp/CIFAR-10-dev/test \
        --model /tmp/predict-net.pth

`--images` is the image folder the data dir's test split was imported from (`test/<class>/*`),
so both commands see the same pixels. Runs `cifarctl predict IMAGES --json --top 1` and
`cifarctl evaluate --json` as whole processes, then compares, image by image, predict's class
with the one evaluate's code gives (`cifarctl.inference.evaluation`, in this process), and the two
confusion matrices.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch
from PIL import Image

sys.path.insert(0, str(Path(__file__).parent))
from common import machine, timed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--images", type=Path, required=True)
    parser.add_argument("--model", type=Path, required=True)
    args = parser.parse_args()
    cifarctl = [sys.executable, "-m", "cifarctl", "--data-dir", str(args.data_dir)]

    from cifarctl.data.catalog import CIFAR10_CLASSES, SHORT_NAMES, locate
    from cifarctl.data.memory import load_split
    from cifarctl.inference import EVALUATION_BATCH
    from cifarctl.inference.evaluation import evaluate
    from cifarctl.inference.model_files import load_trained_model

    predict = [*cifarctl, "predict", str(args.images), "--model", str(args.model), "--json", "--top", "1"]
    seconds, stdout = timed(predict, ".")
    predicted = json.loads(stdout)
    _, stdout = timed([*cifarctl, "evaluate", "--model", str(args.model), "--json"], ".")
    evaluated = json.loads(stdout)

    trained = load_trained_model(args.model)
    split = load_split(locate(args.data_dir), "test")
    reference = evaluate(trained.network, split, torch.device("cpu"), EVALUATION_BATCH, trained.mean, trained.std,
                         trained.tta)
    # The import shuffles the images, so each file is found in the split by its pixels
    # (decoded here with plain Pillow, as the import does, not with predict's own decoder).
    position = {image.numpy().tobytes(): index for index, image in enumerate(split.images)}
    entries = predicted["predictions"]
    same = 0
    confusion = torch.zeros(10, 10, dtype=torch.int64)
    for entry in entries:
        with Image.open(entry["path"]) as image:
            index = position[np.asarray(image.convert("RGB")).transpose(2, 0, 1).tobytes()]
        truth = CIFAR10_CLASSES.index(Path(entry["path"]).parent.name)
        if truth != int(split.labels[index]):
            sys.exit(f"{entry['path']} is labelled {truth} here and {int(split.labels[index])} in the data dir")
        guess = SHORT_NAMES.index(entry["top"][0]["class"])
        same += guess == int(reference.predicted[index])
        confusion[truth, guess] += 1
    print(f"machine: {machine()}")
    print(f"predict: {len(entries):,} files in {seconds:.1f} s (whole process), {predicted['failed']} unreadable")
    print(f"per-image agreement with evaluate's predictions: {same:,} / {len(entries):,}")
    print(f"confusion matrix identical to 'cifarctl evaluate --json': {confusion.tolist() == evaluated['confusion']}")
    print(f"accuracy: predict {confusion.diagonal().sum().item() / len(entries):.4f}, "
          f"evaluate {evaluated['accuracy']:.4f}")


if __name__ == "__main__":
    main()
