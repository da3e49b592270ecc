"""The command-line tools hide orbax's "read only" and JAX's TPU-probe lines, and nothing else."""

import os
import subprocess
import sys
import textwrap

from tests.train.conftest import ROOT

# A tool started through run_cli that opens a checkpoint reader, starts JAX and logs a warning.
_TOOL = textwrap.dedent('''
    from absl import logging
    import jax
    import orbax.checkpoint as ocp
    from dfrf_jax.cli import run_cli

    def main(argv):
      ocp.CheckpointManager(argv[1], options=ocp.CheckpointManagerOptions(read_only=True,
                                                                          create=False))
      print(jax.devices())
      logging.warning('a real warning')
      logging.info('Unable to initialize backend %r: from elsewhere', 'tpu')

    run_cli(main, 'tool', [], [])
''')


def test_misleading_lines_are_hidden_and_others_show(tmp_path):
  env = {k: v for k, v in os.environ.items() if k != 'JAX_PLATFORMS'}  # JAX probes for a TPU.
  result = subprocess.run([sys.executable, '-c', _TOOL, str(tmp_path)], cwd=ROOT,
                          capture_output=True, text=True, timeout=120, env=env)
  assert result.returncode == 0, result.stderr[-3000:]
  assert 'Given directory is read only' not in result.stderr
  assert "Unable to initialize backend 'tpu': INTERNAL" not in result.stderr
  assert 'a real warning' in result.stderr
  assert "Unable to initialize backend 'tpu': from elsewhere" in result.stderr
