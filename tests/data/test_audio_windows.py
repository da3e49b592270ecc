"""The 8-frame smoothing window against the authors' recorded windows and a direct construction."""

import numpy as np
import pytest

from dfrf_jax.data import audio_windows, dataset
from tests.data.conftest import FIXTURE_IDENTITY


@pytest.fixture(scope='module')
def identity() -> dataset.Identity:
  return dataset.load_identity(str(FIXTURE_IDENTITY))


def test_matches_the_authors_windows(identity, parity):
  # The authors index train-list positions of the identity's per-frame windows (train then val)
  # and zero everything outside [0, number of train frames).
  train_only = dataset.split_aud_windows(identity, identity.train)
  train_and_val = np.concatenate([train_only, dataset.split_aud_windows(identity, identity.val)])
  for center, want in zip(parity['audatt_centers'], parity['audatt_in_aud']):
    for windows in (train_only, train_and_val):
      got = audio_windows.smoothing_window(windows, int(center), 8, valid_count=12)
      assert got.shape == (8, 16, 29) and got.dtype == np.float32
      np.testing.assert_array_equal(got, want)


def test_window_is_asymmetric_and_zero_padded():
  aud = np.arange(10 * 2 * 3, dtype=np.float32).reshape(10, 2, 3) + 1
  inner = audio_windows.smoothing_window(aud, 5, 8, valid_count=10)
  np.testing.assert_array_equal(inner, aud[1:9])  # frames 1..8: 4 before, 3 after
  start = audio_windows.smoothing_window(aud, 1, 4, valid_count=10)
  np.testing.assert_array_equal(start[0], 0)
  np.testing.assert_array_equal(start[1:], aud[0:3])
  end = audio_windows.smoothing_window(aud, 8, 8, valid_count=9)
  np.testing.assert_array_equal(end[:5], aud[4:9])
  np.testing.assert_array_equal(end[5:], 0)  # row 9 exists but is past valid_count


@pytest.mark.parametrize('index, smo_size, valid_count, match', [
    (0, 7, 4, 'smo_size = 7, expected a positive even number'),
    (4, 8, 4, 'index = 4, expected 0..3'),
    (0, 8, 11, r'valid_count = 11, expected 1..10'),
])
def test_errors(index, smo_size, valid_count, match):
  with pytest.raises(ValueError, match=match):
    audio_windows.smoothing_window(np.zeros((10, 16, 29), np.float32), index, smo_size,
                                   valid_count=valid_count)
