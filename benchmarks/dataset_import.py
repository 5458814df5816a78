"""Time importing an image-folder copy of CIFAR-10, and loading the dataset afterwards.

    tar -xzf ../shared/data/cifar10-dev-jpg.tar.gz -C /tmp
    python benchmarks/dataset_import.py /tmp/CIFAR-10-dev

Reports: the whole `cifarctl download --from` process; the later `cifarctl download` answer
(dataset already present); and loading both splits into memory as uint8 tensors in-process.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from common import machine, timed


def main() -> None:
    source = Path(sys.argv[1]).resolve()
    with tempfile.TemporaryDirectory() as workdir:
        data = Path(workdir) / "data"
        import_seconds, _ = timed(["cifarctl", "--data-dir", str(data), "download", "--from", str(source)], workdir)
        present = [timed(["cifarctl", "--data-dir", str(data), "download"], workdir)[0] for _ in range(5)]

        from cifarctl.data.catalog import locate
        from cifarctl.data.memory import load_split

        loads = []
        for _ in range(5):
            started = time.perf_counter()
            train, test = load_split(locate(data), "train"), load_split(locate(data), "test")
            loads.append(time.perf_counter() - started)
    print(f"machine: {machine()}")
    print("| step | time |")
    print("|---|---|")
    print(f"| `cifarctl download --from {source.name}` ({len(train):,} + {len(test):,} images, whole process) "
          f"| {import_seconds:.1f} s |")
    print("| `cifarctl download` when already present (whole process, median of 5) "
          f"| {statistics.median(present):.2f} s |")
    print(f"| loading train + test into memory as uint8 tensors (in-process, median of 5) "
          f"| {1000 * statistics.median(loads):.0f} ms |")


if __name__ == "__main__":
    main()
