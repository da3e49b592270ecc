"""Precomputed driving features: read as windows of the model's width, or a one-line error."""

import numpy as np
import pytest

from dfrf_jax.api import load_config
from dfrf_jax.data.dataset import load_dataset
from dfrf_jax.preprocess.errors import PreprocessError
from dfrf_jax.render.driving import driving_windows
from tests.train.conftest import DATASET


@pytest.fixture(scope='module')
def identity():
  return load_dataset(DATASET)[0]


def _windows(identity, tmp_path, features=None, data=None):
  path = tmp_path / 'feats.npy'
  if data is None:
    np.save(path, features)
  else:
    path.write_bytes(data)
  return driving_windows(identity, load_config('test'), str(path), fps=25.0)


@pytest.mark.parametrize('shape', [(15, 16, 29), (30, 29)])
def test_windows_and_rows_of_the_model_width(identity, tmp_path, shape):
  features = np.random.default_rng(0).normal(size=shape).astype(np.float32)
  assert _windows(identity, tmp_path, features).shape == (15, 16, 29)


@pytest.mark.parametrize('shape', [(15, 16, 1024), (30, 768), (30,), (2, 15, 16, 29)])
def test_other_widths_or_ranks_name_the_file_and_both_shapes(identity, tmp_path, shape):
  features = np.zeros(shape, np.float32)
  with pytest.raises(PreprocessError) as info:
    _windows(identity, tmp_path, features)
  assert str(info.value) == (
      f'{tmp_path / "feats.npy"}: shape {shape}, expected [T, 16, 29] windows or [2T, 29] rows '
      '(model.aud_feature_dim = 29 of the trained run)')


def test_garbage_bytes_are_no_npy_file(identity, tmp_path):
  with pytest.raises(PreprocessError, match=r'feats.npy: not a .npy array file \(no NUMPY header\)'
                     r'; expected audio features') as info:
    _windows(identity, tmp_path, data=b'RIFF not an array' * 10)
  assert 'pickle' not in str(info.value)
