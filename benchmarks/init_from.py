"""Starting from a trained model: `train --init-from` against training from scratch on a few images of new classes.

From the development split (`tar -xzf ../shared/data/cifar10-dev-jpg.tar.gz -C /tmp`):

1. `five`: the 4,000 training images of each of airplane, automobile, bird, cat and deer;
   `fast` is trained on them once (`--steps`, seed 0): the model to start from.
2. `other`: 100 training images of each of the other five classes (dog, frog, horse, ship,
   truck), measured on their 5,000 held-out images. Three arms train `fast` on it at the same
   `--fine-steps` (the batch `train` fits to 500 images: 32), one run per seed: from scratch;
   `--init-from` the first model (its head replaced: other classes); and `--init-from` with
   `--freeze-backbone` (only the head trains).

Every model is measured with `cifarctl evaluate --json`: accuracy, macro-F1, the worst
class's recall, mean ± std over the seeds. Files go under --work (never committed).

    python benchmarks/init_from.py --dev /tmp/CIFAR-10-dev --work /tmp/initfrom --seeds 0,1,2
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from common import cpu_flags, machine
from imbalanced_folders import CLASSES, import_folder, link_folder, table, train_and_measure

FIRST, OTHER = CLASSES[:5], CLASSES[5:]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dev", type=Path, required=True, help="the extracted CIFAR-10-dev folder")
    parser.add_argument("--work", type=Path, required=True, help="where folders, data and models go")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--steps", type=int, default=234, help="steps of the first model (234 = 3 epochs)")
    parser.add_argument("--fine-steps", type=int, default=150, help="steps of every run on the new classes")
    parser.add_argument("--per-class", type=int, default=100, help="training images per new class")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--width", type=int, help="the fast network's width (default: the family's, 64)")
    args = parser.parse_args()
    size = ["--width", str(args.width)] if args.width else []
    seeds = [int(seed) for seed in args.seeds.split(",")]
    args.work.mkdir(parents=True, exist_ok=True)
    work = args.work.resolve()
    data_dir = work / "data"
    print(f"machine: {machine()}; CPU flags: {cpu_flags()}", flush=True)
    import_folder(link_folder(args.dev, work / "five", dict.fromkeys(FIRST, 4000)), data_dir, "five", work)
    import_folder(link_folder(args.dev, work / "other", dict.fromkeys(OTHER, args.per_class)), data_dir, "other",
                  work)
    start = work / "five.pth"
    first = train_and_measure(data_dir, "five", start, 0, ["--steps", str(args.steps), *size], work, args.threads)
    print(f"first model (five classes): {json.dumps({k: v for k, v in first.items() if k != 'recall'})}", flush=True)
    plans = (("from scratch", [], "scratch"),
             ("--init-from (head replaced)", ["--init-from", str(start)], "init"),
             ("--init-from --freeze-backbone", ["--init-from", str(start), "--freeze-backbone"], "frozen"))
    arms: dict[str, list[dict]] = {arm: [] for arm, _, _ in plans}
    for seed in seeds:  # the arms alternate, so a slower stretch of the machine hits all three
        for arm, extra, name in plans:
            run = train_and_measure(data_dir, "other", work / f"other-{name}.seed{seed}.pth", seed,
                                    ["--steps", str(args.fine_steps), *size, *extra], work, args.threads)
            arms[arm].append(run)
            print(f"{arm} seed {seed}: {json.dumps({k: v for k, v in run.items() if k != 'recall'})}", flush=True)
    (work / "init_from.json").write_text(json.dumps({"first": first, "arms": arms}, indent=1))
    print(table(arms))


if __name__ == "__main__":
    main()
