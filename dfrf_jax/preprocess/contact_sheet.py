"""A preview PNG: sampled frames with landmarks, projected head axes and the head-mask outline."""

import cv2
import numpy as np

from dfrf_jax.preprocess.head_pose import HeadPoses, project_shape

_AXIS_LENGTH = 0.08  # metres


def draw_frame(image: np.ndarray, lms: np.ndarray, head: np.ndarray, poses: HeadPoses,
               index: int) -> np.ndarray:
  """One annotated frame: landmarks (green), fitted projections (red), head x/y/z axes
  (red/green/blue) from the head origin, head-mask outline (yellow).

  Args:
    image: [H, W, 3] uint8 RGB.
    lms: [68, 2] (x, y) detected landmarks.
    head: [H, W] bool head mask.
    poses: the fitted track.
    index: frame index into `poses`.

  Returns:
    [H, W, 3] uint8 RGB.
  """
  canvas = np.ascontiguousarray(image.copy())
  height, width = image.shape[:2]
  thickness = max(1, width // 256)
  contours, _ = cv2.findContours(head.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
  cv2.drawContours(canvas, contours, -1, (255, 230, 0), thickness)
  for x, y in np.round(lms).astype(int):
    cv2.circle(canvas, (x, y), thickness, (0, 255, 0), -1)
  for x, y in np.round(poses.projections[index]).astype(int):
    cv2.circle(canvas, (x, y), thickness, (255, 0, 0), -1)
  axes = np.concatenate([np.zeros((1, 3)), _AXIS_LENGTH * np.eye(3)])
  ends = np.asarray(project_shape(axes, poses.rotations[index:index + 1],
                                  poses.translations[index:index + 1], poses.focal, height,
                                  width))[0]
  origin = tuple(int(v) for v in np.round(ends[0]))
  for end, colour in zip(ends[1:], ((255, 0, 0), (0, 255, 0), (0, 0, 255))):
    cv2.line(canvas, origin, tuple(int(v) for v in np.round(end)), colour, 2 * thickness)
  return canvas


def contact_sheet(tiles: list[np.ndarray], columns: int = 4, tile_side: int = 256) -> np.ndarray:
  """Tiles annotated frames into a grid: [rows * tile_side, columns * tile_side, 3] uint8."""
  rows = -(-len(tiles) // columns)
  sheet = np.zeros((rows * tile_side, columns * tile_side, 3), np.uint8)
  for k, tile in enumerate(tiles):
    r, c = divmod(k, columns)
    small = cv2.resize(tile, (tile_side, tile_side), interpolation=cv2.INTER_AREA)
    sheet[r * tile_side:(r + 1) * tile_side, c * tile_side:(c + 1) * tile_side] = small
  return sheet
