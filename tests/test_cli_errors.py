"""Bad inputs through the real command lines: one `error:` line naming the file or flag, status 2.

Every case fails before any XLA compilation, so each costs one interpreter start.
"""

import os
import shutil
import subprocess
import sys

import numpy as np
from PIL import Image
import pytest

from dfrf_jax.cli import USER_ERROR_STATUS, VERBOSE_ENV
from tests.train.conftest import DATASET, ROOT


@pytest.fixture(scope='module')
def bad(tmp_path_factory) -> str:
  """A folder of broken inputs, each next to an intact copy of what it needs of the fixture."""
  root = tmp_path_factory.mktemp('bad')
  truncated = root / 'truncated_json'
  shutil.copytree(DATASET, truncated)
  text = (truncated / '0' / 'transforms_train.json').read_text()
  (truncated / '0' / 'transforms_train.json').write_text(text[:len(text) // 2])
  no_config = root / 'no_config_txt'
  shutil.copytree(DATASET, no_config)
  (no_config / '0' / 'config.txt').unlink()
  damaged = root / 'truncated_jpeg'
  shutil.copytree(DATASET, damaged)
  data = (damaged / '0' / 'com_imgs' / '7.jpg').read_bytes()
  (damaged / '0' / 'com_imgs' / '7.jpg').write_bytes(data[:len(data) // 2])
  path_id = root / 'path_img_id'
  shutil.copytree(DATASET, path_id)
  text = (path_id / '0' / 'transforms_train.json').read_text()
  (path_id / '0' / 'transforms_train.json').write_text(
      text.replace('"img_id": 0,', '"img_id": "../x",', 1))
  (root / 'empty_run').mkdir()
  frames = root / 'one_frame'
  frames.mkdir()
  Image.fromarray(np.zeros((64, 64, 3), np.uint8)).save(frames / '000.png')
  (root / 'not_a_config.py').write_text('def get_config(:\n')
  return str(root)


_TRAIN = ('dfrf_jax.train.main', '--config=configs/test.py')
# (command line, text the error line must hold); {bad} is the fixture above, {data} the dataset.
CASES = {
    'config typo': ((*_TRAIN, '--workdir={bad}/w', '--config.train.N_iterz=5'),
                    '--config.train.N_iterz: no such field; did you mean --config.train.N_iters?'),
    'config section typo': ((*_TRAIN, '--workdir={bad}/w', '--config.trian.N_iters=5'),
                            '--config.trian: no such field; did you mean --config.train?'),
    'negative N_rand': ((*_TRAIN, '--workdir={bad}/w', '--config.data_dir={data}',
                         '--config.data.N_rand=-64'),
                        'config.data.N_rand = -64: expected an integer >= 1'),
    'zero learning rate': ((*_TRAIN, '--workdir={bad}/w', '--config.data_dir={data}',
                            '--config.train.lrate=0'),
                           'config.train.lrate = 0.0: expected a finite number > 0'),
    'near beyond far': ((*_TRAIN, '--workdir={bad}/w', '--config.data_dir={data}',
                         '--config.render.near=2.0'),
                        'config.render.near = 2.0, config.render.far = 0.9: expected near < far'),
    'missing config file': (('dfrf_jax.train.main', '--config=configs/nope.py', '--workdir={bad}/w'),
                            '--config=configs/nope.py: no such file'),
    'config file of bad syntax': (('dfrf_jax.train.main', '--config={bad}/not_a_config.py',
                                   '--workdir={bad}/w'),
                                  'not_a_config.py:1: '),
    'flag of a wrong type': ((*_TRAIN, '--workdir={bad}/w', '--config.train.N_iters=abc'),
                             '--config.train.N_iters=abc'),
    'missing required flag': (_TRAIN, '--workdir'),
    'missing dataset': ((*_TRAIN, '--workdir={bad}/w', '--config.data_dir={bad}/nowhere'),
                        'nowhere: dataset folder does not exist'),
    'truncated transforms JSON': ((*_TRAIN, '--workdir={bad}/w',
                                   '--config.data_dir={bad}/truncated_json'),
                                  'transforms_train.json: invalid JSON'),
    'missing config.txt': ((*_TRAIN, '--workdir={bad}/w', '--config.data_dir={bad}/no_config_txt'),
                           'config.txt: missing, or sets no near/far'),
    'truncated frame image': ((*_TRAIN, '--workdir={bad}/w',
                               '--config.data_dir={bad}/truncated_jpeg'),
                              'com_imgs/7.jpg: damaged image (image file is truncated'),
    'img_id of a path': ((*_TRAIN, '--workdir={bad}/w', '--config.data_dir={bad}/path_img_id'),
                         "frames[0].img_id: expected an integer, got '../x'"),
    'render without a checkpoint': (('dfrf_jax.render.main', '--workdir={bad}/empty_run',
                                     '--data_dir={data}', '--out={bad}/out'),
                                    'empty_run: holds no checkpoint'),
    'evaluate a missing folder': (('dfrf_jax.eval.main', '--pred={bad}/nowhere', '--data_dir={data}'),
                                  'nowhere: No such file or directory'),
    'evaluate part of the frames': (('dfrf_jax.eval.main', '--pred={bad}/one_frame',
                                     '--data_dir={data}'),
                                    'one_frame: 1 frames, but'),
    'import a file that is no checkpoint': (('dfrf_jax.train.import_torch_main',
                                             '--checkpoint=setup.cfg', '--out={bad}/imported'),
                                            'setup.cfg: not a zip archive'),
    'preprocess a missing video': (('dfrf_jax.preprocess.cli', '--video={bad}/none.mp4',
                                    '--out={bad}/pre'),
                                   'none.mp4: ffmpeg cannot read this file'),
    'stray argument': (('dfrf_jax.data.synthetic_cli', '--out={bad}/synth', 'stray'),
                       'Unexpected arguments: stray'),
}


def _run(args: tuple[str, ...], bad: str, **env: str) -> subprocess.CompletedProcess:
  module, *flags = (a.format(bad=bad, data=DATASET) for a in args)
  return subprocess.run([sys.executable, '-m', module, *flags], cwd=ROOT, capture_output=True,
                        text=True, timeout=120, env={**os.environ, **env})


@pytest.mark.parametrize('case', CASES)
def test_a_bad_input_is_one_error_line(case, bad):
  args, expected = CASES[case]
  result = _run(args, bad)
  assert result.returncode == USER_ERROR_STATUS, result.stderr[-3000:]
  assert 'Traceback' not in result.stderr, result.stderr[-3000:]
  errors = [line for line in result.stderr.splitlines() if line.startswith('error: ')]
  assert len(errors) == 1, result.stderr[-3000:]
  assert expected in errors[0]


def test_verbose_shows_the_traceback_too(bad):
  args, expected = CASES['missing dataset']
  for result in (_run((*args, '--verbose'), bad), _run(args, bad, **{VERBOSE_ENV: '1'})):
    assert result.returncode == USER_ERROR_STATUS
    assert 'Traceback' in result.stderr and 'DatasetError' in result.stderr
    assert result.stderr.rstrip().splitlines()[-1].startswith('error: ')
    assert expected in result.stderr.rstrip().splitlines()[-1]
