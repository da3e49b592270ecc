"""Every frame image is decoded once when a dataset is loaded for a run; what passed is cached."""

import os
import shutil
import tempfile

from absl import logging
import numpy as np
from PIL import Image
import pytest

from dfrf_jax.api import load_config
from dfrf_jax.data import dataset, image_check, images
from dfrf_jax.data.errors import DatasetError
from tests.data.conftest import FIXTURE_DATASET


@pytest.fixture
def data_dir(tmp_path) -> str:
  # Without the fixture's own cache, which other tests may have written.
  shutil.copytree(FIXTURE_DATASET, tmp_path / 'data',
                  ignore=shutil.ignore_patterns(image_check.CACHE_FILE))
  return str(tmp_path / 'data')


def _load(data_dir: str) -> list[dataset.Identity]:
  config = load_config('test')
  return dataset.load_dataset_from_config(config, data_dir)


def _count_decodes(monkeypatch) -> list[str]:
  decoded = []
  decode = images.decode_image

  def counting(path, *args):
    decoded.append(os.path.basename(os.path.dirname(path)) + '/' + os.path.basename(path))
    return decode(path, *args)

  monkeypatch.setattr(images, 'decode_image', counting)
  return decoded


def test_a_truncated_frame_is_named_at_load_time(data_dir):
  path = os.path.join(data_dir, '0', 'com_imgs', '7.jpg')
  with open(path, 'rb') as f:
    data = f.read()
  with open(path, 'wb') as f:
    f.write(data[:len(data) // 2])
  dataset.load_dataset(data_dir)  # The header alone is intact.
  with pytest.raises(DatasetError, match=r'com_imgs/7\.jpg: damaged image \(.*truncated'):
    _load(data_dir)


def test_a_grayscale_background_is_named_at_load_time(data_dir):
  path = os.path.join(data_dir, '0', 'torso_imgs', '3.jpg')
  Image.open(path).convert('L').save(path)
  with pytest.raises(DatasetError, match=r"torso_imgs/3\.jpg: image mode is 'L', expected 8-bit"):
    _load(data_dir)


def test_a_second_load_decodes_only_changed_images(data_dir, monkeypatch):
  decoded = _count_decodes(monkeypatch)
  _load(data_dir)
  assert len(decoded) == 1 + 2 * 24  # bc.jpg, com_imgs and torso_imgs of both splits.
  assert os.path.isfile(os.path.join(data_dir, '0', image_check.CACHE_FILE))
  decoded.clear()
  _load(data_dir)
  assert not decoded
  path = os.path.join(data_dir, '0', 'com_imgs', '5.jpg')
  Image.fromarray(np.full((64, 64, 3), 9, np.uint8)).save(path, format='JPEG')
  os.utime(path, ns=(1, 1))
  _load(data_dir)
  assert decoded == ['com_imgs/5.jpg']


def test_an_unwritable_cache_is_logged_and_the_check_still_runs(data_dir, monkeypatch):
  def read_only(*args, **kwargs):
    raise PermissionError(13, 'Permission denied')

  monkeypatch.setattr(tempfile, 'mkstemp', read_only)
  logged = []
  monkeypatch.setattr(logging, 'info', lambda message, *args: logged.append(message % args))
  decoded = _count_decodes(monkeypatch)
  _load(data_dir)
  _load(data_dir)
  assert len(decoded) == 2 * (1 + 2 * 24)
  assert not os.path.exists(os.path.join(data_dir, '0', image_check.CACHE_FILE))
  assert len(logged) == 2 and 'cannot write the image check cache (Permission denied)' in logged[0]


def test_a_damaged_cache_is_ignored(data_dir, monkeypatch):
  with open(os.path.join(data_dir, '0', image_check.CACHE_FILE), 'w') as f:
    f.write('{"version": 1, "files": ')
  decoded = _count_decodes(monkeypatch)
  _load(data_dir)
  assert len(decoded) == 1 + 2 * 24
