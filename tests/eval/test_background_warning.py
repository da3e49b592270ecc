"""Rendered frames that are only their background plates (a dead field) are reported."""

import os
import subprocess
import sys

import numpy as np
from PIL import Image

from dfrf_jax.data.dataset import load_dataset
from dfrf_jax.eval import report
from tests.train.conftest import DATASET, ROOT

_WARNING = 'warning: the rendered frames are the background plates'


def test_plates_with_rounding_noise_warn_and_a_rendered_patch_does_not():
  rng = np.random.default_rng(0)
  plates = rng.uniform(0.1, 0.9, (2, 64, 64, 3)).astype(np.float32)
  noisy = plates + rng.uniform(-0.02, 0.02, plates.shape).astype(np.float32)
  assert report.background_only_warning(noisy, plates).startswith(_WARNING)
  head = plates.copy()
  head[:, 20:30, 20:30] = 0.5 + 0.4 * np.sign(plates[:, 20:30, 20:30] - 0.5)  # 2.4% of the pixels
  assert report.background_only_warning(head, plates) is None
  assert report.background_only_warning((plates * 255).astype(np.uint8), plates) is not None


def _write_pngs(folder, images) -> None:
  os.makedirs(folder)
  for i, image in enumerate(images):
    Image.fromarray(np.round(image * 255).astype(np.uint8)).save(os.path.join(folder, f'{i:03d}.png'))


def test_dfrf_evaluate_warns_for_plates_only(tmp_path):
  identity = load_dataset(DATASET)[0]
  count = min(3, len(identity.val))
  plates = [identity.background(identity.val, i) for i in range(count)]
  truth = [identity.image(identity.val, i) for i in range(count)]
  _write_pngs(tmp_path / 'plates', plates)
  _write_pngs(tmp_path / 'truth', truth)
  for name, warns in (('plates', True), ('truth', False)):
    done = subprocess.run(
        [sys.executable, '-m', 'dfrf_jax.eval.main', f'--pred={tmp_path / name}',
         f'--data_dir={DATASET}', f'--out={tmp_path / (name + ".json")}', '--allow_partial'],
        capture_output=True, text=True, cwd=ROOT, check=True)
    assert (_WARNING in done.stderr) == warns, done.stderr
