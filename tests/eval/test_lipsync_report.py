"""dfrf-evaluate's lip-sync scores on the synthetic fixture: ground truth and background only."""

import json
import os
import shutil
import subprocess
import sys

import numpy as np
from PIL import Image
import pytest

from dfrf_jax.data import image_check
from dfrf_jax.data.dataset import load_dataset

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DATASET = os.path.join(ROOT, 'tests', 'fixtures', 'parity', 'dataset', 'synth_fixture')


def _write_frames(folder, frames):
  os.makedirs(folder)
  for i, frame in enumerate(frames):
    Image.fromarray(np.round(frame * 255).astype(np.uint8)).save(os.path.join(folder, f'{i:03d}.png'))


@pytest.fixture(scope='module')
def scored(tmp_path_factory):
  """metrics.json of the ground truth and of the background plates scored as renders."""
  out = tmp_path_factory.mktemp('lipsync')
  identity = load_dataset(DATASET)[0]
  val = identity.val
  results = {}
  for name, frames in (('gt', identity.images(val)), ('bg', identity.backgrounds(val))):
    _write_frames(str(out / name / 'frames'), frames)
    done = subprocess.run([sys.executable, '-m', 'dfrf_jax.eval.main',
                           f'--pred={out / name / "frames"}', f'--data_dir={DATASET}'],
                          capture_output=True, text=True, cwd=ROOT, check=False, timeout=300)
    assert done.returncode == 0, done.stderr
    with open(out / name / 'metrics.json') as f:
      results[name] = (json.load(f), done.stdout, out / name)
  return results


def test_ground_truth_as_prediction(scored):
  metrics, stdout, folder = scored['gt']
  assert {'psnr', 'ssim', 'baseline', 'per_frame'} <= set(metrics)
  lip = metrics['lipsync']
  assert lip['kind'] == 'synthetic' and lip['figure'] == 'lipsync.png'
  assert lip['model']['gt_r'] == pytest.approx(1.0)
  assert lip['model']['spread_ratio'] == pytest.approx(1.0)
  assert lip['model']['mouth_psnr'] == 'inf'
  assert lip['model']['opening_r'] == lip['ground_truth']['opening_r'] > 0.8
  assert lip['frozen_mouth']['spread_ratio'] == pytest.approx(0.0, abs=1e-9)
  assert len(lip['true_opening']) == len(lip['model']['opening']) == metrics['num_frames']
  assert 'frozen mouth' in stdout and 'mouth_psnr' in stdout
  assert Image.open(folder / 'lipsync.png').size[0] >= 320


def test_background_only_has_no_mouth(scored):
  lip = scored['bg'][0]['lipsync']
  assert abs(lip['model']['opening_r']) < 0.5
  assert lip['model']['spread_ratio'] < 0.3
  assert lip['model']['mouth_psnr'] < lip['frozen_mouth']['mouth_psnr']


def test_old_datasets_without_mouth_box_use_the_lip_rects(tmp_path):
  """The fixture's synth_meta.json predates mouth_box; removing lip_rect is then an error."""
  data = tmp_path / 'data'
  shutil.copytree(os.path.join(DATASET, '0'), data / '0',
                  ignore=shutil.ignore_patterns(image_check.CACHE_FILE))
  path = data / '0' / 'transforms_val.json'
  transforms = json.loads(path.read_text())
  for frame in transforms['frames']:
    del frame['lip_rect']
  path.write_text(json.dumps(transforms))
  identity = load_dataset(str(data))[0]
  _write_frames(str(tmp_path / 'frames'), identity.images(identity.val))
  done = subprocess.run([sys.executable, '-m', 'dfrf_jax.eval.main', f'--pred={tmp_path / "frames"}',
                         f'--data_dir={data}'], capture_output=True, text=True, cwd=ROOT,
                        check=False, timeout=300)
  assert done.returncode == 2
  assert 'transforms_val.json: frames have no lip_rect; expected [x, y, w, h]' in done.stderr
