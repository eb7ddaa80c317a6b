#!/usr/bin/env bash
# The README's first command: fresh machine -> .venv -> install -> build-bundles on the samples.
#
#   bash scripts/demo.sh                 # artifacts in data/artifacts, report in data/artifacts/reports/
#   bash scripts/demo.sh --force         # extra arguments go to `cqa build-bundles`
#
# Needs Python >= 3.10 (3.11 tested) and pip access to a package index. torch is pinned and
# installed first: the 2.13.0 CPU wheel; an unpinned torch would pull GBs of CUDA libraries.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON="${PYTHON:-$(command -v python3.11 || command -v python3)}"
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install --quiet "torch==2.13.0"
.venv/bin/python -m pip install --quiet -e ".[models,dask,dev]"

export PREFECT_SERVER_ANALYTICS_ENABLED=false
export PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS="${PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS:-120}"
.venv/bin/cqa build-bundles --config data/samples/build.yaml "$@"
if [ -d data/artifacts/near_miss ]; then
  .venv/bin/cqa show near_miss --root data/artifacts --head 1
fi
