"""Tests for dfrf_jax.eval.lipsync: the mouth-opening measure, its scores and the audio-swap check."""

import numpy as np
import pytest

from dfrf_jax.data import synthetic_scene as scene
from dfrf_jax.eval import lipsync

SIZE = 48


@pytest.fixture(scope='module')
def mouths():
  """Frames of one person at one pose opening the mouth: ([T, H, W, 3], [T] opening, [T, 4] box)."""
  rng = np.random.default_rng(4)
  identity = scene.sample_identity(rng)
  camera = scene.default_camera(SIZE)
  c2w = scene.camera_to_world(scene.head_poses(identity, scene.sample_motion(rng),
                                               np.array([0.3])))[0]
  opening = np.linspace(0.0, 1.0, 8)
  frames = np.stack([scene.render_frame(identity, c2w, o, camera).rgb for o in opening])
  label = scene.render_frame(identity, c2w, 1.0, camera).label
  rows, cols = np.nonzero(np.isin(label, (scene.LIPS, scene.MOUTH)))
  rect = [cols.min() - 1, rows.min() - 1, cols.max() - cols.min() + 2, rows.max() - rows.min() + 2]
  return frames, opening, np.tile(rect, (len(opening), 1))


def test_measured_opening_grows_with_the_true_opening(mouths):
  frames, opening, boxes = mouths
  crops = lipsync.crop_mouths(frames, boxes)
  threshold = lipsync.calibrate_threshold(crops, opening)
  measured = lipsync.darkness(crops, threshold)
  assert np.all(np.diff(measured) > 0), measured
  assert lipsync.correlation(measured, opening) > 0.95


def test_ground_truth_scores_perfectly_and_a_frozen_mouth_does_not_move(mouths):
  frames, opening, boxes = mouths
  result = lipsync.synthetic_lipsync(frames, frames, opening, boxes)
  assert result['model']['gt_r'] == pytest.approx(1.0)
  assert result['model']['spread_ratio'] == pytest.approx(1.0)
  assert result['model']['mouth_psnr'] == np.inf
  assert result['model'] == result['ground_truth']
  assert result['model']['opening_r'] > 0.95
  assert result['gt_slope'] > 0
  frozen = result['frozen_mouth']
  assert frozen['spread_ratio'] == pytest.approx(0.0, abs=1e-9)
  assert frozen['opening_r'] == pytest.approx(0.0, abs=1e-9)
  assert 10.0 < frozen['mouth_psnr'] < 40.0


def test_frozen_mouths_paste_the_mean_crop_and_leave_the_rest():
  rng = np.random.default_rng(0)
  frames = rng.uniform(size=(3, 10, 12, 3))
  boxes = np.array([[1, 2, 3, 2], [4, 5, 3, 2], [8, 7, 3, 2]])
  frozen = lipsync.frozen_mouths(frames, boxes)
  crops = lipsync.crop_mouths(frozen, boxes)
  assert crops.shape == (3, 3, 4, 3)
  np.testing.assert_allclose(crops, np.broadcast_to(lipsync.crop_mouths(frames, boxes).mean(0),
                                                    crops.shape))
  outside = np.ones(frames.shape[:3], bool)
  for k, (x, y, w, h) in enumerate(boxes):
    outside[k, y:y + h + 1, x:x + w + 1] = False
  np.testing.assert_array_equal(frozen[outside], frames[outside])


def test_fixed_size_boxes_are_the_largest_size_centred_and_inside_the_image():
  rects = np.array([[10, 10, 4, 2], [20, 12, 8, 4], [28, 0, 6, 2]])
  boxes = lipsync.fixed_size_boxes(rects, 32, 32)
  assert np.all(boxes[:, 2] == 8) and np.all(boxes[:, 3] == 4)
  np.testing.assert_array_equal(boxes[1], rects[1])
  np.testing.assert_array_equal(boxes[0], [8, 9, 8, 4])
  assert boxes[2, 0] + boxes[2, 2] <= 31 and boxes[2, 1] >= 0


def test_statistics():
  x = np.arange(10.0)
  assert lipsync.correlation(x, 2 * x + 1) == pytest.approx(1.0)
  assert lipsync.correlation(x, -x) == pytest.approx(-1.0)
  assert lipsync.correlation(x, np.ones(10)) == 0.0
  assert lipsync.slope(3 * x + 2, x) == pytest.approx(3.0)
  assert lipsync.spread_ratio(0.5 * x, x) == pytest.approx(0.5)
  assert lipsync.spread_ratio(x, np.zeros(10)) == 0.0


def test_audio_swap_follows_the_driving_audio_not_the_frames():
  t = np.arange(64)
  own = 0.5 + 0.5 * np.sin(2 * np.pi * t / 16)
  driving = 0.5 + 0.5 * np.cos(2 * np.pi * t / 16)      # uncorrelated with `own` over 4 periods
  gt_slope = 0.2
  follows = 0.05 + 0.5 * gt_slope * driving
  result = lipsync.audio_swap(follows, driving, own, gt_slope)
  assert result['slope_ratio'] == pytest.approx(0.5)
  assert result['driving_r'] == pytest.approx(1.0)
  assert result['own_r'] == pytest.approx(0.0, abs=1e-9)
  ignores = 0.05 + gt_slope * own                         # the mouth of the frames, not the audio
  result = lipsync.audio_swap(ignores, driving, own, gt_slope)
  assert result['slope_ratio'] == pytest.approx(0.0, abs=1e-9)
  assert result['own_r'] == pytest.approx(1.0)
  with pytest.raises(ValueError, match='gt_slope'):
    lipsync.audio_swap(follows, driving, own, 0.0)
