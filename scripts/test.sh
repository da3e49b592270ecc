#!/usr/bin/env bash
# Runs the test suite. Creates and fills .venv first when no virtual environment is active.
#   scripts/test.sh                 # everything
#   scripts/test.sh tests/model -k slot   # any pytest arguments
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/_env.sh
python -m pytest "$@"
