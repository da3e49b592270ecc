"""Person and head masks (OpenCV GrabCut seeded by landmarks), the background plate and composites.

Per frame, GrabCut segments the person from seeds derived from the 68 landmarks:
  sure person      the convex hull of the landmarks (the face);
  probable person  a band above and beside the face (hair and ears) and a widening
                   trapezoid under the chin down to the bottom edge (neck and torso);
  sure background  a border band along the top, left and right edges above the chin;
  probable bg.     everything else.
The head (face + hair + ears, the authors' parsing classes 1-13, 17, 18) is the person above the jaw
line (the polygon of jaw landmarks 4-12, extended sideways to the image edges, so the ears beside
the upper jaw stay with the head); the rest of the person
is neck and torso.

Composites follow the authors' layout (spec §1.2, §2.1 steps 4-5): `bc.jpg` takes every pixel from the
frames where it is not covered by the (dilated) person, and inpaints the pixels that are always
covered; `com_imgs` are the frames with their background replaced by bc.jpg; `torso_imgs` are com
images with the dilated head replaced by bc.jpg, torso kept, and the neck's top row copied upward
under the removed head, as the authors extend the neck.
"""

import chex
import cv2
import numpy as np

_BORDER = 0.03      # sure-background band, fraction of the image side
_DILATE = 0.02      # dilation of the person / head masks, fraction of the image side
_WORK_SIDE = 256    # GrabCut image side in pixels
_NECK_EXTEND = 50 / 512  # neck pixels copied upward, fraction of the image side (authors: 50 at 512)


def grabcut_masks(image: np.ndarray, lms: np.ndarray, iterations: int = 3) -> tuple[np.ndarray,
                                                                                     np.ndarray]:
  """Person and head masks of one frame.

  GrabCut runs on the frame downscaled to at most `_WORK_SIDE` pixels (its cost grows with the pixel
  count); the masks are scaled back up.

  Args:
    image: [H, W, 3] uint8 RGB.
    lms: [68, 2] (x, y) landmarks in pixels.
    iterations: GrabCut iterations.

  Returns:
    (person, head): [H, W] bool masks; head is a subset of person.
  """
  chex.assert_rank(image, 3)
  chex.assert_shape(lms, (68, 2))
  height, width = image.shape[:2]
  scale = min(1.0, _WORK_SIDE / max(height, width))
  if scale < 1.0:
    small = cv2.resize(image, (round(width * scale), round(height * scale)),
                       interpolation=cv2.INTER_AREA)
    masks = grabcut_masks(small, lms * scale, iterations)
    return tuple(cv2.resize(m.astype(np.uint8), (width, height),
                            interpolation=cv2.INTER_NEAREST).astype(bool) for m in masks)
  seeds = np.full((height, width), cv2.GC_PR_BGD, np.uint8)
  pts = np.round(lms).astype(np.int32)
  face_h = max(float(lms[8, 1] - lms[19:25, 1].min()), 1.0)
  brow_y = float(lms[17:27, 1].min())
  left, right = float(lms[:, 0].min()), float(lms[:, 0].max())
  chin_y = float(lms[8, 1])
  # Hair and ears above and beside the face.
  hair = np.array([[left - 0.15 * face_h, lms[4, 1]], [left - 0.15 * face_h, lms[0, 1]],
                   [left, brow_y - 0.8 * face_h], [right, brow_y - 0.8 * face_h],
                   [right + 0.15 * face_h, lms[16, 1]], [right + 0.15 * face_h, lms[12, 1]]],
                  np.int32)
  cv2.fillConvexPoly(seeds, hair, cv2.GC_PR_FGD)
  # Neck and torso under the chin.
  mid = 0.5 * (left + right)
  half = 0.5 * (right - left)
  torso = np.array([[mid - 0.5 * half, chin_y], [mid + 0.5 * half, chin_y],
                    [mid + 2.0 * half, height - 1], [mid - 2.0 * half, height - 1]], np.int32)
  cv2.fillConvexPoly(seeds, torso, cv2.GC_PR_FGD)
  band = max(int(round(_BORDER * max(height, width))), 1)
  top = int(np.clip(chin_y, 0, height))
  seeds[:band] = cv2.GC_BGD
  seeds[:top, :band] = cv2.GC_BGD
  seeds[:top, width - band:] = cv2.GC_BGD
  cv2.fillConvexPoly(seeds, cv2.convexHull(pts), cv2.GC_FGD)
  bgd_model = np.zeros((1, 65), np.float64)
  fgd_model = np.zeros((1, 65), np.float64)
  cv2.grabCut(cv2.cvtColor(image, cv2.COLOR_RGB2BGR), seeds, None, bgd_model, fgd_model,
              iterations, cv2.GC_INIT_WITH_MASK)
  person = (seeds == cv2.GC_FGD) | (seeds == cv2.GC_PR_FGD)
  below_jaw = np.zeros((height, width), np.uint8)
  outline = np.concatenate([[[0, pts[4, 1]]], pts[4:13], [[width - 1, pts[12, 1]],
                                                          [width - 1, height - 1], [0, height - 1]]])
  cv2.fillPoly(below_jaw, [outline.astype(np.int32)], 1)
  head = person & (below_jaw == 0)
  head |= _hull_mask(pts, height, width)
  return person | head, head


def _hull_mask(pts: np.ndarray, height: int, width: int) -> np.ndarray:
  mask = np.zeros((height, width), np.uint8)
  cv2.fillConvexPoly(mask, cv2.convexHull(pts), 1)
  return mask.astype(bool)


def dilate(mask: np.ndarray, fraction: float = _DILATE) -> np.ndarray:
  """Dilates a [H, W] bool mask by `fraction` of the image side (square kernel)."""
  radius = max(int(round(fraction * max(mask.shape))), 1)
  kernel = np.ones((2 * radius + 1, 2 * radius + 1), np.uint8)
  return cv2.dilate(mask.astype(np.uint8), kernel).astype(bool)


def background_plate(frames: list[np.ndarray], persons: list[np.ndarray]) -> np.ndarray:
  """The static background: per pixel, the median over the frames where no (dilated) person covers it.

  Pixels covered in every given frame are inpainted (OpenCV Telea) from their surroundings.

  Args:
    frames: N [H, W, 3] uint8 RGB frames (e.g. every 20th, as the authors).
    persons: N [H, W] bool person masks.

  Returns:
    [H, W, 3] uint8 RGB.
  """
  stack = np.stack(frames).astype(np.float32)
  free = ~np.stack([dilate(p) for p in persons])
  masked = np.where(free[..., None], stack, np.nan)
  seen = free.any(0)
  with np.errstate(invalid='ignore'):
    plate = np.nanmedian(np.where(seen[None, ..., None], masked, 0.0), axis=0)
  plate = np.clip(np.round(plate), 0, 255).astype(np.uint8)
  radius = max(int(round(0.01 * max(plate.shape[:2]))), 3)
  return cv2.inpaint(plate, (~seen).astype(np.uint8), radius, cv2.INPAINT_TELEA)


def composites(image: np.ndarray, person: np.ndarray, head: np.ndarray, plate: np.ndarray,
               lms: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
  """The training target and the per-frame background of one frame.

  Args:
    image: [H, W, 3] uint8 RGB frame.
    person: [H, W] bool person mask.
    head: [H, W] bool head mask.
    plate: [H, W, 3] uint8 background plate.
    lms: [68, 2] (x, y) landmarks; the neck is extended in the columns between jaw points 4 and 12.

  Returns:
    (com, torso): [H, W, 3] uint8 RGB; com = frame with the background from the plate; torso = com
    with the dilated head from the plate and the neck extended upward.
  """
  com = np.where(person[..., None], image, plate)
  # As the authors: a wide dilation of the head outside the body, then a narrow one over it.
  removed = (dilate(head) & ~(person & ~head)) | dilate(head, _DILATE / 4)
  torso = np.where(removed[..., None], plate, com)
  body = person & ~removed
  extend = max(int(round(_NECK_EXTEND * image.shape[0])), 1)
  rows = np.arange(image.shape[0])
  cols = np.arange(image.shape[1])
  neck = (cols >= lms[4, 0]) & (cols <= lms[12, 0])
  for col in np.flatnonzero(neck & body.any(0) & removed.any(0)):
    top = int(np.argmax(body[:, col]))
    span = (rows >= top - extend) & (rows < top) & removed[:, col]
    torso[span, col] = com[top, col]
  return com, torso
