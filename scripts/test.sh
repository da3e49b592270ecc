#!/usr/bin/env bash
# Runs the test suite. Creates and fills .venv first when no virtual environment is active.
#   scripts/test.sh                 # everything
#   scripts/test.sh tests/model -k slot   # any pytest arguments
# Tests run in DFRF_TEST_WORKERS processes (pytest-xdist, default 2; each test module stays in one
# process, so its module fixtures are built once); `-n 0` runs them in this process.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/_env.sh
python -m pytest -n "${DFRF_TEST_WORKERS:-2}" --dist loadscope "$@"
