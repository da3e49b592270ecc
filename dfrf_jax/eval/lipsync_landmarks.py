"""Lip-sync measures on real footage, from the 68 dlib landmarks the preprocessing uses.

  * LMD, the mouth landmark distance: the mean Euclidean distance of the 20 mouth landmarks
    (0-based iBUG-68 indices 48-67) between a rendered and its ground-truth frame, in pixels of the
    rendered size, averaged over frames;
  * the inner-lip gap of each frame (mean vertical distance of the inner lips' upper points 61-63
    and lower points 67-65, pixels), and its correlation over time with the ground truth's
    ('opening_r') and the ratio of its spread ('spread_ratio').

The face is detected on the ground-truth frame only, and the predictor placed on that same box in
the rendered frame: a render is never detected again, so a poor render cannot move the box.
"""

from typing import Any

import chex
import numpy as np

from dfrf_jax.eval import lipsync
from dfrf_jax.preprocess.landmarks import LandmarkDetector

MOUTH = slice(48, 68)
INNER_UPPER = (61, 62, 63)
INNER_LOWER = (67, 66, 65)
# Upsample the detector's image below this side (pixels): dlib misses faces under about 80 px.
_SMALL_IMAGE = 400


def inner_lip_gap(landmarks: np.ndarray) -> np.ndarray:
  """Inner-lip gap of [T, 68, 2] (x, y) landmarks: [T] pixels (lower minus upper inner lip)."""
  chex.assert_rank(landmarks, 3)
  chex.assert_axis_dimension(landmarks, 1, 68)
  upper = landmarks[:, INNER_UPPER, 1].astype(np.float64)
  lower = landmarks[:, INNER_LOWER, 1].astype(np.float64)
  return np.mean(lower - upper, axis=1)


def mouth_landmark_distance(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
  """Per-frame LMD of landmarks [T, 68, 2] against [T, 68, 2]: [T] mean distance (pixels)."""
  chex.assert_equal_shape((pred, gt))
  chex.assert_axis_dimension(pred, 1, 68)
  diff = pred[:, MOUTH].astype(np.float64) - gt[:, MOUTH].astype(np.float64)
  return np.mean(np.linalg.norm(diff, axis=-1), axis=1)


def _uint8(frames: np.ndarray) -> np.ndarray:
  frames = np.asarray(frames)
  if frames.dtype == np.uint8:
    return frames
  return np.round(np.clip(frames, 0.0, 1.0) * 255.0).astype(np.uint8)


class MouthLandmarks:
  """Landmarks of ground-truth frames and of renders placed on the ground truth's face boxes."""

  def __init__(self, detector: LandmarkDetector | None = None):
    """Loads dlib's detector and predictor (the preprocess extra), unless a detector is given."""
    self._detector = detector

  def _get(self, side: int) -> LandmarkDetector:
    if self._detector is None:
      self._detector = LandmarkDetector(upsample=1 if side < _SMALL_IMAGE else 0)
    return self._detector

  def face_boxes(self, gt: np.ndarray) -> list[tuple[int, int, int, int] | None]:
    """The detector's face box of each ground-truth frame [T, H, W, 3], None where none is found."""
    chex.assert_rank(gt, 4)
    detector = self._get(min(gt.shape[1:3]))
    return [detector.face_box(frame) for frame in _uint8(gt)]

  def landmarks(self, frames: np.ndarray, boxes: list[tuple[int, int, int, int]]) -> np.ndarray:
    """Landmarks of frames [T, H, W, 3] with the face in the given boxes: [T, 68, 2] pixels."""
    chex.assert_rank(frames, 4)
    detector = self._get(min(frames.shape[1:3]))
    return np.stack([detector.landmarks_in_box(f, b) for f, b in zip(_uint8(frames), boxes)])


def landmark_scores(pred: np.ndarray, gt: np.ndarray, boxes: list[tuple[int, int, int, int]],
                    gt_landmarks: np.ndarray, finder: MouthLandmarks) -> dict[str, Any]:
  """LMD and opening scores of frames [T, H, W, 3] against ground truth with known landmarks.

  Args:
    pred, gt: [T, H, W, 3] frames, uint8 or float in [0, 1]; all have a face box.
    boxes: T face boxes of the ground-truth frames.
    gt_landmarks: [T, 68, 2] the ground truth's landmarks in those boxes.
    finder: the landmark model.

  Returns:
    {'lmd': mean LMD in pixels, 'opening_r': r of the inner-lip gap with the ground truth's,
     'spread_ratio': std of the gap / the ground truth's, 'opening': [T] gap in pixels}.
  """
  chex.assert_equal_shape((pred, gt))
  landmarks = finder.landmarks(pred, boxes)
  gap, gt_gap = inner_lip_gap(landmarks), inner_lip_gap(gt_landmarks)
  return {'lmd': float(np.mean(mouth_landmark_distance(landmarks, gt_landmarks))),
          'opening_r': lipsync.correlation(gap, gt_gap),
          'spread_ratio': lipsync.spread_ratio(gap, gt_gap),
          'opening': gap.tolist()}


def landmark_lipsync(pred: np.ndarray, gt: np.ndarray, mouth_boxes: np.ndarray,
                     finder: MouthLandmarks | None = None) -> dict[str, Any]:
  """Landmark lip-sync scores of rendered frames, of the ground truth and of a frozen mouth.

  Args:
    pred: [T, H, W, 3] rendered frames, uint8 or float in [0, 1].
    gt: [T, H, W, 3] ground-truth frames.
    mouth_boxes: [T, 4] fixed-size mouth boxes (`lipsync.fixed_size_boxes` of the lip_rects), where
      the frozen-mouth baseline pastes the mean ground-truth mouth.
    finder: the landmark model (default: dlib's, loaded here).

  Returns:
    {'frames_with_face': indices of the frames scored (a face was found in the ground truth),
     'ground_truth_opening': [N] inner-lip gap of the ground truth (pixels),
     'model', 'frozen_mouth', 'ground_truth': `landmark_scores` of each over those frames}; with no
    face in any ground-truth frame, only 'frames_with_face' (empty).
  """
  chex.assert_equal_shape((pred, gt))
  finder = finder or MouthLandmarks()
  boxes = finder.face_boxes(gt)
  keep = [i for i, box in enumerate(boxes) if box is not None]
  if not keep:
    return {'frames_with_face': []}
  boxes = [boxes[i] for i in keep]
  gt_kept = gt[keep]
  gt_landmarks = finder.landmarks(gt_kept, boxes)
  frozen = lipsync.frozen_mouths(gt, mouth_boxes)[keep]
  return {'frames_with_face': keep,
          'ground_truth_opening': inner_lip_gap(gt_landmarks).tolist(),
          'model': landmark_scores(pred[keep], gt_kept, boxes, gt_landmarks, finder),
          'frozen_mouth': landmark_scores(frozen, gt_kept, boxes, gt_landmarks, finder),
          'ground_truth': landmark_scores(gt_kept, gt_kept, boxes, gt_landmarks, finder)}
