#!/usr/bin/env bash
# The main job on the embedded synthetic dataset. For now: generate it and say what it holds.
#   scripts/demo.sh            # writes demo_out/data
#   scripts/demo.sh DIR        # writes DIR
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/_env.sh
data="${1:-demo_out/data}"
echo "[demo] writing the synthetic talking-head dataset to $data"
python -m dfrf_jax.data.synthetic_cli --out="$data" --overwrite
