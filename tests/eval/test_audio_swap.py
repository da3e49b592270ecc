"""The audio-swap score: frames whose mouth follows the reversed audio against frames that ignore it.

The fixture's 12 val openings correlate with their own reverse at r = 0.46, hence the 0.3 margins.
"""

import os

import numpy as np
import pytest

from dfrf_jax import api
from dfrf_jax.data.dataset import load_dataset
from dfrf_jax.errors import UserError
from dfrf_jax.eval import lipsync, lipsync_report

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DATASET = os.path.join(ROOT, 'tests', 'fixtures', 'parity', 'dataset', 'synth_fixture')


@pytest.fixture(scope='module')
def scored(tmp_path_factory):
  """The fixture's val frames, their own-audio scores and their fixed-size mouth boxes."""
  identity = load_dataset(DATASET)[0]
  gt = identity.images(identity.val)
  positions = np.arange(len(gt))
  result = lipsync_report.score_identity(gt, gt, identity, identity.val, positions,
                                         str(tmp_path_factory.mktemp('swap')))
  boxes = lipsync.fixed_size_boxes(lipsync_report.lip_rects(identity.val, positions), *gt.shape[1:3])
  return identity, gt, positions, result, boxes


def test_a_mouth_that_follows_the_driving_audio(scored):
  identity, gt, positions, result, boxes = scored
  # Each frame keeps its pose but shows the mouth of frame T-1-t, as a perfect model would.
  follows = lipsync.paste_mouths(gt, boxes, lipsync.crop_mouths(gt, boxes)[::-1])
  swap = lipsync_report.score_audio_swap(follows, identity, identity.val, positions, result)
  assert swap['slope_ratio'] == pytest.approx(1.0)
  assert swap['driving_r'] == pytest.approx(result['ground_truth']['opening_r'])
  assert swap['driving_r'] > 0.8 and swap['own_r'] < swap['driving_r'] - 0.3


def test_a_mouth_that_ignores_the_driving_audio(scored):
  identity, gt, positions, result, _ = scored
  swap = lipsync_report.score_audio_swap(gt, identity, identity.val, positions, result)
  assert swap['own_r'] == pytest.approx(result['ground_truth']['opening_r'])
  assert swap['driving_r'] < swap['own_r'] - 0.3


def test_audio_swap_plan_reverses_the_audio_and_keeps_the_poses(scored):
  identity = scored[0]
  plan = api.self_driven_plan(identity, identity.val, max_frames=3)
  swap = api.audio_swap_plan(plan)
  np.testing.assert_array_equal(swap.windows, plan.windows[[2, 1, 0]])
  np.testing.assert_array_equal(swap.positions, plan.positions)
  assert not swap.has_ground_truth


def test_needs_a_synthetic_dataset(scored):
  identity, gt, positions, result, _ = scored
  with pytest.raises(UserError, match='the audio-swap check needs a synthetic dataset'):
    lipsync_report.score_audio_swap(gt, identity, identity.val, positions,
                                    {**result, 'kind': 'landmarks'})
