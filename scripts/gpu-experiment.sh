#!/usr/bin/env bash
# A whole experiment profile in one call on a GPU machine that has only the train extra (torch,
# transformers, safetensors, numpy, pyyaml): every run of an experiment pack, each evaluated with its
# own null rule, then the comparison table (training/portable_experiment.py).
#
#   # mining machine (the artifacts built; the pack must stay under 64 MiB with the start weights):
#   cqa experiment-pack --profile paper1-cpu --out xpack/
#   # GPU machine, from the source tree; RUNS (default /tmp/xruns) keeps the run folders between calls:
#   scripts/gpu-experiment.sh xpack/ [--set optim.batch_windows=32 ...]
#
# Every run gets `device=auto` (then cuda) and `precision=auto` (bf16 autocast on a GPU) on top of its
# packed config; further `--set` overrides apply to every run and are part of its fingerprint. Stops at
# 9.5 minutes (timeout 570): a second call skips the runs already finished and continues. What to
# bring back, under $OUT when set (else RUNS): summary.md and results.json.gz (every run's
# per-question predictions, scores and the comparison) and one train_log per run, gzipped together.
set -euo pipefail
if [ $# -lt 1 ]; then
  echo "usage: scripts/gpu-experiment.sh XPACK [--set KEY=VALUE ...]" >&2
  exit 2
fi
cd "$(dirname "$0")/.."
xpack=$1
shift
python=${PYTHON:-$( [ -x .venv/bin/python ] && echo .venv/bin/python || echo python3 )}
runs=${RUNS:-/tmp/xruns}
back=${OUT:-$runs}
export PYTHONUNBUFFERED=1
rc=0
timeout 570 "$python" -m training.portable experiment "$xpack" --out "$runs" \
  --set device=auto --set precision=auto "$@" || rc=$?
mkdir -p "$back"
for f in summary.md results.json.gz; do
  [ -f "$runs/$f" ] && [ "$runs" != "$back" ] && cp "$runs/$f" "$back/"
done
(cd "$runs" && ls -d */train_log.jsonl */xpack-run.json 2>/dev/null | xargs -r tar czf "$back/train-logs.tar.gz") || true
if [ $rc -ne 0 ]; then
  echo "gpu-experiment: stopped with status $rc (124: the 570 s limit); run it again to continue" >&2
fi
exit $rc
