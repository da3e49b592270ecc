"""The training loop: it learns, resumes bit-exactly (also after SIGKILL) and stops on NaN."""

import json
import os
import signal
import subprocess
import sys
import time

import jax
import numpy as np
import pytest

from dfrf_jax.train import batches, checkpoints, loop
from tests.train.conftest import DATASET, ROOT, tiny_config


def _assert_same_params(a: str, b: str) -> None:
  _, params_a, step_a = checkpoints.load_checkpoint(a)
  _, params_b, step_b = checkpoints.load_checkpoint(b)
  assert step_a == step_b
  jax.tree.map(np.testing.assert_array_equal, params_a, params_b)


@pytest.fixture(scope='module')
def full_run(tmp_path_factory):
  """An uninterrupted 24-step run, logging every step; the audio smoothing starts at step 20."""
  workdir = str(tmp_path_factory.mktemp('full'))
  loop.train(tiny_config(N_iters=24, i_weights=4, i_print=1, nosmo_iters=20), workdir)
  return workdir


def _losses(workdir: str) -> list[float]:
  with open(os.path.join(workdir, 'metrics.jsonl')) as f:
    return [json.loads(line)['loss'] for line in f]


def test_short_run_lowers_the_loss(full_run, tmp_path):
  before = _losses(full_run)
  assert len(before) == 24 and np.all(np.isfinite(before))
  assert sorted(os.listdir(os.path.join(full_run, 'checkpoints'))) == ['20', '24']
  # The same seed draws the same first batches: the trained params see them again.
  config = tiny_config(N_iters=8, i_weights=8, i_print=1)
  config.init_from, config.train.reinit_warp = full_run, False
  loop.train(config, str(tmp_path))
  after = _losses(str(tmp_path))
  assert np.mean(after) < 0.8 * np.mean(before[:8]), (before[:8], after)


def test_resumed_run_equals_uninterrupted_run(full_run, tmp_path):
  workdir = str(tmp_path)
  loop.train(tiny_config(N_iters=12, i_weights=4, i_print=1, nosmo_iters=20), workdir)
  loop.train(tiny_config(N_iters=24, i_weights=4, i_print=1, nosmo_iters=20), workdir)
  _assert_same_params(full_run, workdir)


def test_resume_after_sigkill(full_run, tmp_path):
  workdir = str(tmp_path)
  command = [sys.executable, '-m', 'dfrf_jax.train', '--config=configs/test.py',
             f'--config.data_dir={DATASET}', f'--workdir={workdir}', '--config.train.N_iters=24',
             '--config.train.i_weights=4', '--config.train.nosmo_iters=20',
             '--config.train.i_img=10000']
  process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
  deadline = time.time() + 120
  while not os.path.isdir(os.path.join(workdir, 'checkpoints', '4')):
    assert process.poll() is None and time.time() < deadline, 'no first checkpoint'
    time.sleep(0.05)
  process.send_signal(signal.SIGKILL)
  process.wait()
  assert checkpoints.locate(workdir)[1] < 24
  loop.train(tiny_config(N_iters=24, i_weights=4, nosmo_iters=20), workdir)
  _assert_same_params(full_run, workdir)


def test_nan_stops_with_step_and_last_checkpoint(tmp_path, monkeypatch):
  draw = batches.draw_batch
  calls = []

  def poisoned(*args):
    batch = draw(*args)
    calls.append(1)
    return batch.replace(target=batch.target * np.nan) if len(calls) == 7 else batch

  monkeypatch.setattr(batches, 'draw_batch', poisoned)
  workdir = str(tmp_path)
  with pytest.raises(loop.NonFiniteError, match=r'step 6: .*checkpoints/4'):
    loop.train(tiny_config(N_iters=24, i_weights=4), workdir)
  assert checkpoints.locate(workdir)[1] == 4
