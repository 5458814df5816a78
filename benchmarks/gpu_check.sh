#!/usr/bin/env bash
# The GPU check, for a machine with a CUDA GPU (about 5 minutes; under 8 on an H100-class GPU):
#   1. the test suite's GPU tests,
#   2. benchmark-gpu for the tutorial's Net and for the fast model,
#   3. the fast recipe trained to its default accuracy on the GPU, then evaluated, at its own
#      widths and at airbench94's (--width 64 --model-option widen=4), 3 seeds each.
# Usage: bash benchmarks/gpu_check.sh DATA             DATA: a data dir, a cifar-10-python.tar.gz, or an
#                                                     image folder such as CIFAR-10-dev (imported first)
# Results go to ${OUT:-gpu-check}/ (JSON documents and logs), a summary to stdout.
set -euo pipefail
source="${1:?usage: bash benchmarks/gpu_check.sh DATA}"
out="${OUT:-gpu-check}"
mkdir -p "$out"
cd "$(dirname "$0")/.."
python3 -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 'no CUDA GPU here')"
python3 -c "import cifarctl" 2>/dev/null || python3 -m pip install -q -e '.[test]'

if [ -d "$source/cifar-10-batches-py" ]; then
  data="$source"
else
  data="$out/data"
  python3 -m cifarctl --data-dir "$data" download --from "$source" --json > "$out/import.json"
fi

nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | tee "$out/gpu.txt"
python3 -m pytest -q -k "cuda or gpu" tests 2>&1 | tee "$out/pytest.log" | tail -3

python3 -m cifarctl benchmark-gpu --widths 6,32,128 --json > "$out/benchmark-net-batch4.json"
python3 -m cifarctl benchmark-gpu --widths 6,32,128 --batch-size 128 --json > "$out/benchmark-net-batch128.json"
python3 -m cifarctl benchmark-gpu --model fast --batch-size 512 --json > "$out/benchmark-fast.json"
python3 -m cifarctl benchmark-gpu --model fast --batch-size 512 | tail -8

for size in "64 2" "64 4"; do
  set -- $size
  for seed in 0 1 2; do
    name="fast-w$1x$2-$seed"
    python3 -m cifarctl --data-dir "$data" --device cuda train --model fast --width "$1" --model-option "widen=$2" \
      --seed "$seed" -o "$out/$name.pth" --restart --json > "$out/train-$name.json" 2> "$out/train-$name.log"
    python3 -m cifarctl --data-dir "$data" --device cuda evaluate --model "$out/$name.pth" --json \
      > "$out/evaluate-$name.json"
    python3 - "$out" "$name" <<'PY'
import json, sys
out, name = sys.argv[1], sys.argv[2]
train = json.load(open(f"{out}/train-{name}.json"))
evaluation = json.load(open(f"{out}/evaluate-{name}.json"))
print(f"{name}: {100 * evaluation['accuracy']:.2f} % (TTA {evaluation['tta']}) after "
      f"{train['train_seconds']:.1f} s of training ({train['epochs_run']:.2f} epochs, {train['precision']}, "
      f"{train['images_per_second']:,.0f} images/s)")
PY
  done
done
