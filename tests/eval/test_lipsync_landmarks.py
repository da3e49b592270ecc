"""Tests for dfrf_jax.eval.lipsync_landmarks on frames of the real fixture video."""

import os

import imageio
import numpy as np
import pytest

from dfrf_jax.eval import lipsync_landmarks as ll

pytest.importorskip('dlib')
VIDEO = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), 'fixtures',
                     'video', 'french_10s_3.6s_256.mp4')


@pytest.fixture(scope='module')
def frames() -> np.ndarray:
  """Four 256 px frames, 0.4 s apart: [4, 256, 256, 3] uint8."""
  reader = imageio.get_reader(VIDEO)
  try:
    return np.stack([f for _, f in zip(range(40), reader)][::10])
  finally:
    reader.close()


@pytest.fixture(scope='module')
def finder() -> ll.MouthLandmarks:
  return ll.MouthLandmarks()


def test_ground_truth_against_itself(frames, finder):
  boxes = np.tile([100, 150, 50, 30], (len(frames), 1))
  result = ll.landmark_lipsync(frames, frames, boxes, finder)
  assert result['frames_with_face'] == [0, 1, 2, 3]
  assert result['model']['lmd'] == 0.0
  assert result['model']['opening_r'] == pytest.approx(1.0)
  assert result['model']['spread_ratio'] == pytest.approx(1.0)
  assert result['frozen_mouth']['lmd'] > 0.5


def test_lmd_of_a_shifted_render_is_the_shift(frames, finder):
  boxes = finder.face_boxes(frames)
  gt = finder.landmarks(frames, boxes)
  shifted = np.roll(frames, (2, 3), axis=(1, 2))     # 2 rows down, 3 columns right
  lmd = ll.mouth_landmark_distance(finder.landmarks(shifted, boxes), gt)
  assert np.mean(lmd) == pytest.approx(np.hypot(2, 3), abs=0.6)


def test_inner_lip_gap_and_distance_closed_form():
  lms = np.zeros((2, 68, 2), np.float32)
  lms[:, [61, 62, 63], 1] = 10.0
  lms[0, [65, 66, 67], 1] = 14.0
  lms[1, [65, 66, 67], 1] = 10.0
  np.testing.assert_allclose(ll.inner_lip_gap(lms), [4.0, 0.0])
  moved = lms.copy()
  moved[:, 48:68] += np.array([3.0, 4.0], np.float32)
  moved[:, :48] += 100.0                                 # only the mouth counts
  np.testing.assert_allclose(ll.mouth_landmark_distance(moved, lms), [5.0, 5.0])
