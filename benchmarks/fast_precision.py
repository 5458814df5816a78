"""bf16 against fp32 for `--model fast` training on this CPU, alternating, with the threads fixed.

`--precision auto` takes bf16 where the CPU has AVX-512 BF16 or AMX; whether bf16 is the faster
one differs between CPU models, and this measures it: each round trains `--steps` steps with
each precision (`--threads` fixed, so the thread probe's choice does not differ between runs)
and prints images/s; the medians and their ratio come last.

    python benchmarks/fast_precision.py --data-dir DATA [--steps 40] [--rounds 3] [--threads 2]
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    speeds: dict[str, list[float]] = {"bf16": [], "fp32": []}
    print(f"# {machine()}; CPU flags: {cpu_flags()}")
    with tempfile.TemporaryDirectory() as workdir:
        for round_index in range(args.rounds):
            for precision in ("bf16", "fp32") if round_index % 2 == 0 else ("fp32", "bf16"):
                _, out = timed(["cifarctl", "--data-dir", str(args.data_dir), "--seed", "0", "train", "--model", "fast",
                                "--steps", str(args.steps), "--threads", str(args.threads), "--precision", precision,
                                "--output", str(Path(workdir) / f"{precision}.pth"), "--restart", "--json"], workdir)
                speeds[precision].append(json.loads(out)["images_per_second"])
                print(f"round {round_index + 1}: {precision} {speeds[precision][-1]:,.0f} images/s", flush=True)
    bf16, fp32 = (statistics.median(speeds[name]) for name in ("bf16", "fp32"))
    print(f"median: bf16 {bf16:,.0f}, fp32 {fp32:,.0f} images/s; fp32 / bf16 = {fp32 / bf16:.2f}")


if __name__ == "__main__":
    main()
