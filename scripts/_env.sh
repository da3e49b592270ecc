# Sourced by scripts/demo.sh and scripts/test.sh: make sure a virtual environment with dfrf-jax installed is active.
# Uses the active venv if there is one, otherwise creates ./.venv. Re-installs only when setup.cfg changed.
if [ -z "${VIRTUAL_ENV:-}" ]; then
  if [ ! -x .venv/bin/python ]; then
    echo "[dfrf-jax] creating .venv"
    python3 -m venv .venv
  fi
  # shellcheck disable=SC1091
  . .venv/bin/activate
fi
stamp="$VIRTUAL_ENV/.dfrf-jax-installed"
want=$(cat setup.cfg pyproject.toml | python -c 'import hashlib,sys; print(hashlib.sha256(sys.stdin.buffer.read()).hexdigest())')
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  echo "[dfrf-jax] installing dfrf-jax and its dependencies into $VIRTUAL_ENV"
  python -m pip install -q --upgrade pip
  python -m pip install -q -e ".[dev]"
  echo "$want" > "$stamp"
fi
