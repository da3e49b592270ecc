"""Running a script of scripts/ in a subprocess, as a user would."""

import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def run_script(name: str, *args: str, timeout: int = 900) -> subprocess.CompletedProcess:
  """`python scripts/<name> args...` from the repository root on the CPU; output captured."""
  env = dict(os.environ, PYTHONPATH=ROOT, JAX_PLATFORMS='cpu')
  return subprocess.run([sys.executable, os.path.join(ROOT, 'scripts', name), *args],
                        capture_output=True, text=True, cwd=ROOT, env=env, check=False,
                        timeout=timeout)
