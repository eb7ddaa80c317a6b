#!/usr/bin/env bash
# Training throughput on a GPU: this loop (length-bucketed batches, bf16 autocast, torch.compile)
# against a plain Hugging Face-style loop padded to max_length in fp32 and bf16, random-initialised
# MiniLM-L6 and BERT-base shapes, the same batches; prints windows/s, the ratios (target >= 2x over
# padded fp32) and the loss curves' largest difference over the first 50 steps (benchmarks/bench_gpu.py).
#
#   scripts/gpu-bench.sh PACK [bench_gpu options]         # on the GPU machine; PACK from `cqa pack`
#   scripts/gpu-bench.sh PACK --small --device cpu --steps 20 --warmup 4 --batch-windows 16   # CPU proof
#
# Needs only the train extra (torch, transformers, safetensors, numpy, pyyaml): run from the source
# tree. Stops at 5 minutes (timeout 300); the benchmark itself skips loops past --budget-s (270 s).
# Make a pack of SQuAD 1.1 dev's PROTOCOL train articles on the mining machine (3.2 MiB):
#   python benchmarks/bench_pack.py --keep pack-squad
set -euo pipefail
if [ $# -lt 1 ]; then
  echo "usage: scripts/gpu-bench.sh PACK [benchmarks/bench_gpu.py options]" >&2
  exit 2
fi
cd "$(dirname "$0")/.."
pack=$1
shift
python=${PYTHON:-$( [ -x .venv/bin/python ] && echo .venv/bin/python || echo python3 )}
extra=()
if "$python" -c 'import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)'; then
  extra=(--compile)
fi
exec timeout 300 "$python" -m benchmarks.bench_gpu --pack "$pack" "${extra[@]}" "$@"
