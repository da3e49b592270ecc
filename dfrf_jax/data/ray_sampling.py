"""Chooses the training pixels of one frame: most inside the face rectangle, the rest outside.

Optionally a share of them inside the mouth rectangle (lip_rect) first: the mouth is under 2% of a
frame's pixels, so with the authors' sampling a step sees only a few mouth rays, which is too little
signal for the audio path to learn the mouth from (docs/training.md, "Mouth rays"). And optionally
extra rays outside the rectangle on top of N_rand: with the authors' 5% outside, most of the frame
gets a dozen rays per step and a floater there can outlive a short run (docs/training.md, "Why seed
2 scores low").
"""

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


def ray_count(n_rand: int, extra_outside_rate: float, sample_rate: float, multiple: int = 1) -> int:
  """Rays per training step: N_rand plus floor(N_rand * extra_outside_rate) extra outside rays.

  When there are extra rays, as many more are added as make the total a multiple of `multiple`
  (the devices a step's rays are split over), so 850 rays at 0.1 give 935 on one device and 936 on
  two. With sample_rate <= 0 the rays are uniform over the image: there is no face rectangle to
  draw outside of, so no extra rays.
  """
  extra = int(n_rand * extra_outside_rate) if sample_rate > 0 else 0
  if extra:
    extra += -(n_rand + extra) % multiple
  return n_rand + extra


def face_ray_count(n_rand: int, sample_rate: float) -> int:
  """Rays per training step drawn inside the face rectangle: floor(n_rand * sample_rate), the first
  ones of `sample_ray_pixels`; 0 with sample_rate <= 0 (no rectangle)."""
  return int(n_rand * sample_rate) if sample_rate > 0 else 0


def sample_ray_pixels(rng: np.random.Generator, height: int, width: int, face_rect: np.ndarray,
                      n_rand: int, sample_rate: float, transposed: bool = True,
                      lip_rect: np.ndarray | None = None, lip_rate: float = 0.0,
                      extra_outside_rate: float = 0.0, ray_multiple: int = 1) -> np.ndarray:
  """Distinct training pixels of one frame, as the authors' `train()` draws them, plus mouth rays.

  With sample_rate > 0, floor(n_rand * sample_rate) distinct pixels are drawn uniformly inside the
  face rectangle (see `face_rect_mask`) and the other pixels uniformly outside it, rectangle pixels
  first. With sample_rate <= 0, n_rand distinct pixels are drawn uniformly from the whole image.
  With lip_rate > 0, floor(n_rand * lip_rate) of the face-rectangle pixels (or all of lip_rect's
  pixels, when it holds fewer) are instead drawn first, uniformly inside lip_rect (tested untransposed: x <= col <= x + w, y <= row <= y + h); the face and
  outside pixels are then drawn among the pixels not yet chosen. lip_rate = 0 draws exactly the
  authors' pixels from the same random stream.

  With extra_outside_rate > 0 and sample_rate > 0, floor(n_rand * extra_outside_rate) more pixels
  (rounded up to make the total a multiple of ray_multiple, `ray_count`) are drawn outside the
  rectangle among those not yet chosen, appended after the n_rand pixels.
  They come from a generator jumped 2**127 draws ahead of `rng` (`bit_generator.jumped()`, which
  leaves `rng` where it is), so the n_rand pixels and every later draw of `rng` are the same with or
  without them: a run with extra rays sees the frames, references and pixels of the run without,
  plus the extra rays.

  Args:
    rng: source of randomness.
    height: image height in pixels.
    width: image width in pixels.
    face_rect: [4] (x, y, w, h) as stored in the JSON.
    n_rand: number of pixels (the authors' N_rand).
    sample_rate: share of pixels inside the rectangle (config `data.sample_rate`).
    transposed: the authors' rectangle test (config `data.face_rect_transposed`).
    lip_rect: [4] (x, y, w, h) of the mouth; needed when lip_rate > 0.
    lip_rate: share of pixels inside lip_rect (config `data.lip_sample_rate`), at most sample_rate.
    extra_outside_rate: extra pixels outside the rectangle, as a share of n_rand (config
      `data.extra_outside_rate`); none when sample_rate <= 0.
    ray_multiple: the devices the rays are split over; the extra pixels, if any, are rounded up to
      make the total a multiple of it.

  Returns:
    [ray_count(n_rand, extra_outside_rate, sample_rate, ray_multiple), 2] int32 (row, col) pixel
    coordinates, no pixel twice (mouth pixels first, then face-rectangle pixels, then outside
    pixels, then the extra ones).
  """
  total = ray_count(n_rand, extra_outside_rate, sample_rate, ray_multiple)
  if total > height * width:
    raise ValueError(f'{total} rays (n_rand = {n_rand}, extra_outside_rate = {extra_outside_rate}) '
                     f'exceed the {height}x{width} image')
  n_face = face_ray_count(n_rand, sample_rate)
  n_lip = int(n_rand * lip_rate)
  if n_lip > n_face:
    raise ValueError(f'lip_rate = {lip_rate} exceeds sample_rate = {sample_rate}: the mouth rays are '
                     'a part of the face-rectangle rays')
  if n_lip == 0 and sample_rate <= 0:
    return _rows_cols(rng.choice(height * width, size=n_rand, replace=False), width)
  inside = face_rect_mask(height, width, face_rect, transposed).ravel()
  chosen = np.zeros(height * width, bool)
  lip_flat = np.zeros(0, np.int64)
  if n_lip:
    if lip_rect is None:
      raise ValueError('lip_rate > 0 needs the frame\'s lip_rect')
    lips = np.flatnonzero(face_rect_mask(height, width, lip_rect, transposed=False))
    # A closed mouth's rectangle may hold fewer pixels than asked for: it gives all of them.
    lip_flat = rng.choice(lips, size=min(n_lip, lips.size), replace=False)
    chosen[lip_flat] = True
  inside_flat, outside_flat = np.flatnonzero(inside & ~chosen), np.flatnonzero(~inside & ~chosen)
  n_inside = n_face - lip_flat.size
  n_outside, n_extra = n_rand - n_face, total - n_rand
  if n_inside > inside_flat.size or n_outside + n_extra > outside_flat.size:
    raise ValueError(
        f'face_rect {[int(v) for v in face_rect]} (transposed={transposed}) covers '
        f'{inside_flat.size} pixels and leaves {outside_flat.size} outside; {n_inside} inside '
        f'and {n_outside + n_extra} outside needed')
  inside_drawn = rng.choice(inside_flat, size=n_inside, replace=False)
  outside_drawn = rng.choice(outside_flat, size=n_outside, replace=False)
  parts = [lip_flat, inside_drawn, outside_drawn]
  if n_extra:
    side = np.random.Generator(rng.bit_generator.jumped())
    parts.append(side.choice(np.setdiff1d(outside_flat, outside_drawn), size=n_extra, replace=False))
  return _rows_cols(np.concatenate(parts), width)


def _rows_cols(flat: np.ndarray, width: int) -> np.ndarray:
  return np.stack(np.divmod(flat, width), -1).astype(np.int32)
