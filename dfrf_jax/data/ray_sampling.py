"""Chooses the training pixels of one frame: most inside the face rectangle, the rest outside."""

import chex
import numpy as np


def face_rect_mask(height: int, width: int, face_rect: np.ndarray,
                   transposed: bool = True) -> np.ndarray:
  """Pixels counted as inside the face rectangle, bounds inclusive: [H, W] bool.

  Args:
    height: image height in pixels.
    width: image width in pixels.
    face_rect: [4] (x, y, w, h) as stored in the JSON; x is a column, y a row.
    transposed: the authors' test, which compares the row with [x, x + w] and the column with
      [y, y + h] (the rectangle mirrored across the diagonal). False compares the row with
      [y, y + h] and the column with [x, x + w].
  """
  face_rect = np.asarray(face_rect)
  chex.assert_shape(face_rect, (4,))
  x, y, w, h = (int(v) for v in face_rect)
  row_lo, row_hi, col_lo, col_hi = (x, x + w, y, y + h) if transposed else (y, y + h, x, x + w)
  rows = np.arange(height)[:, None]
  cols = np.arange(width)[None, :]
  return (rows >= row_lo) & (rows <= row_hi) & (cols >= col_lo) & (cols <= col_hi)


def sample_ray_pixels(rng: np.random.Generator, height: int, width: int, face_rect: np.ndarray,
                      n_rand: int, sample_rate: float, transposed: bool = True) -> np.ndarray:
  """Distinct training pixels of one frame, as the authors' `train()` draws them.

  With sample_rate > 0, floor(n_rand * sample_rate) distinct pixels are drawn uniformly inside the
  face rectangle (see `face_rect_mask`) and the other pixels uniformly outside it, rectangle pixels
  first. With sample_rate <= 0, n_rand distinct pixels are drawn uniformly from the whole image.

  Args:
    rng: source of randomness.
    height: image height in pixels.
    width: image width in pixels.
    face_rect: [4] (x, y, w, h) as stored in the JSON.
    n_rand: number of pixels (the authors' N_rand).
    sample_rate: share of pixels inside the rectangle (config `data.sample_rate`).
    transposed: the authors' rectangle test (config `data.face_rect_transposed`).

  Returns:
    [n_rand, 2] int32 (row, col) pixel coordinates, no pixel twice.
  """
  if n_rand > height * width:
    raise ValueError(f'n_rand = {n_rand} exceeds the {height}x{width} image')
  if sample_rate <= 0:
    flat = rng.choice(height * width, size=n_rand, replace=False)
  else:
    inside = face_rect_mask(height, width, face_rect, transposed).ravel()
    inside_flat, outside_flat = np.flatnonzero(inside), np.flatnonzero(~inside)
    n_inside = int(n_rand * sample_rate)
    n_outside = n_rand - n_inside
    if n_inside > inside_flat.size or n_outside > outside_flat.size:
      raise ValueError(
          f'face_rect {[int(v) for v in face_rect]} (transposed={transposed}) covers '
          f'{inside_flat.size} pixels and leaves {outside_flat.size} outside; {n_inside} inside '
          f'and {n_outside} outside needed')
    flat = np.concatenate([rng.choice(inside_flat, size=n_inside, replace=False),
                           rng.choice(outside_flat, size=n_outside, replace=False)])
  return np.stack(np.divmod(flat, width), -1).astype(np.int32)
