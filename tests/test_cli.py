"""Which exceptions `dfrf_jax.cli` reports as a user's mistake, and as what one line; --help."""

import errno
import subprocess
import sys

from absl import app
import pytest

from dfrf_jax.cli import user_error_message
from dfrf_jax.config import ConfigError
from dfrf_jax.data.errors import DatasetError
from tests.train.conftest import ROOT


def test_project_errors_are_one_line():
  error = DatasetError('d/transforms_train.json: invalid JSON\n  at line 3')
  assert user_error_message(error) == 'd/transforms_train.json: invalid JSON at line 3'
  assert user_error_message(ConfigError('config.x = 0: expected >= 1')) == 'config.x = 0: expected >= 1'
  assert user_error_message(app.UsageError('unexpected arguments')) == 'unexpected arguments'


def test_a_missing_path_is_named():
  error = FileNotFoundError(errno.ENOENT, 'No such file or directory', 'run/frames')
  assert user_error_message(error) == 'run/frames: No such file or directory'


@pytest.mark.parametrize('code, problem', [(errno.ENOSPC, 'no space left on the device'),
                                           (errno.EROFS, 'the file system is read-only')])
def test_a_full_or_read_only_disk_names_the_folder_even_when_wrapped(code, problem):
  try:
    try:
      raise OSError(code, 'os message', '/runs/a/checkpoints/10/params')
    except OSError as e:
      raise ValueError('a library rewrapped it') from e
  except ValueError as wrapped:
    message = user_error_message(wrapped)
  assert message.startswith(f'/runs/a/checkpoints/10: {problem};')


@pytest.mark.parametrize('bug', [ValueError('x'), KeyError('x'), TypeError('x'),
                                 OSError('image file is truncated')])
def test_anything_else_is_a_bug(bug):
  assert user_error_message(bug) is None


@pytest.mark.parametrize('module, own_flags', [
    ('dfrf_jax.data.synthetic_cli', ('--out', '--image_size', '--[no]overwrite')),
    ('dfrf_jax.preprocess.cli', ('--video', '--out', '--audio_features')),
])
def test_help_lists_the_flags_with_their_help(module, own_flags):
  result = subprocess.run([sys.executable, '-m', module, '--help'], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)
  for flag in (*own_flags, '--[no]verbose'):
    assert flag in result.stdout, result.stdout
