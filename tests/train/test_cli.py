"""The console entry points: --help works, dfrf-import-torch writes a checkpoint or fails clearly."""

import subprocess
import sys

import pytest

from dfrf_jax.train import checkpoints
from tests.train.conftest import ROOT, TORCH_CHECKPOINT


@pytest.mark.parametrize('module, expected', [
    ('dfrf_jax.train', '--coordinator_address'),
    ('dfrf_jax.train.import_torch_main', '--checkpoint'),
])
def test_help(module, expected):
  result = subprocess.run([sys.executable, '-m', module, '--help'], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)
  # absl's --help prints to stdout and exits with status 1 (its convention for usage output).
  assert not result.stderr
  assert expected in result.stdout and '--config' in result.stdout


def test_import_cli_writes_a_loadable_checkpoint(tmp_path):
  out = str(tmp_path / 'run')
  result = subprocess.run(
      [sys.executable, '-m', 'dfrf_jax.train.import_torch_main', f'--checkpoint={TORCH_CHECKPOINT}',
       f'--out={out}'], cwd=ROOT, capture_output=True, text=True, timeout=300)
  assert result.returncode == 0, result.stderr
  assert 'netwidth 128' in result.stdout
  config, _, step = checkpoints.load_checkpoint(out)
  assert (config.model.netwidth, step) == (128, 59)


def test_import_cli_fails_clearly_on_another_file(tmp_path):
  result = subprocess.run(
      [sys.executable, '-m', 'dfrf_jax.train.import_torch_main', f'--checkpoint={ROOT}/setup.cfg',
       f'--out={tmp_path}'], cwd=ROOT, capture_output=True, text=True, timeout=120)
  assert result.returncode != 0
  assert 'setup.cfg: not a zip archive' in result.stderr
