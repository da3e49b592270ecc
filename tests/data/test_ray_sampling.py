"""Training-pixel choice: counts inside/outside face_rect, the transposed test, no repeats, extra outside rays."""

import numpy as np
import pytest

from dfrf_jax.data import ray_sampling

_H, _W = 48, 64
# x (column) 10, y (row) 4, w 45, h 20: not symmetric, so the transposed test differs, and
# x + w runs past the last row, so the transposed region is clipped by the image.
_RECT = np.array([10, 4, 45, 20])


def _inside(pixels: np.ndarray, transposed: bool) -> np.ndarray:
  """Independent membership test on (row, col) pairs, inclusive bounds."""
  x, y, w, h = _RECT
  row, col = pixels[:, 0], pixels[:, 1]
  if transposed:
    return (x <= row) & (row <= x + w) & (y <= col) & (col <= y + h)
  return (y <= row) & (row <= y + h) & (x <= col) & (col <= x + w)


@pytest.mark.parametrize('transposed', [True, False])
def test_counts_and_membership(transposed):
  rng = np.random.default_rng(0)
  pixels = ray_sampling.sample_ray_pixels(rng, _H, _W, _RECT, 300, 0.95, transposed)
  assert pixels.shape == (300, 2) and np.issubdtype(pixels.dtype, np.integer)
  n_inside = int(300 * 0.95)  # 285
  inside = _inside(pixels, transposed)
  assert inside[:n_inside].all()
  assert not inside[n_inside:].any()
  assert len({tuple(p) for p in pixels.tolist()}) == 300
  assert (pixels >= 0).all() and (pixels[:, 0] < _H).all() and (pixels[:, 1] < _W).all()


def test_authors_count_truncates():
  # int(850 * 0.95) = 807 in the authors' code (850 * 0.95 = 807.4999...).
  rng = np.random.default_rng(1)
  rect = np.array([0, 0, 40, 40])
  pixels = ray_sampling.sample_ray_pixels(rng, 64, 64, rect, 850, 0.95)
  x, y, w, h = rect
  inside = (pixels[:, 0] <= x + w) & (pixels[:, 1] <= y + h)
  assert inside[:807].all() and not inside[807:].any()


@pytest.mark.parametrize('transposed', [True, False])
def test_mask_matches_independent_test(transposed):
  mask = ray_sampling.face_rect_mask(_H, _W, _RECT, transposed)
  rows, cols = np.meshgrid(np.arange(_H), np.arange(_W), indexing='ij')
  want = _inside(np.stack([rows.ravel(), cols.ravel()], -1), transposed).reshape(_H, _W)
  np.testing.assert_array_equal(mask, want)
  # Inclusive bounds. Transposed: rows 10..47 (clipped) x cols 4..24; else rows 4..24 x cols 10..55.
  assert mask.sum() == (38 * 21 if transposed else 21 * 46)


def test_every_inside_pixel_can_be_drawn():
  rng = np.random.default_rng(2)
  drawn = np.zeros((_H, _W), bool)
  for _ in range(80):
    pixels = ray_sampling.sample_ray_pixels(rng, _H, _W, _RECT, 200, 0.9)
    drawn[pixels[:180, 0], pixels[:180, 1]] = True
  np.testing.assert_array_equal(drawn, ray_sampling.face_rect_mask(_H, _W, _RECT, True))


def test_deterministic_given_the_generator():
  draw = lambda seed: ray_sampling.sample_ray_pixels(np.random.default_rng(seed), _H, _W, _RECT,
                                                     100, 0.95)
  np.testing.assert_array_equal(draw(3), draw(3))
  assert not np.array_equal(draw(3), draw(4))


@pytest.mark.parametrize('sample_rate', [0.0, -1.0])
def test_uniform_when_sample_rate_not_positive(sample_rate):
  rng = np.random.default_rng(5)
  pixels = ray_sampling.sample_ray_pixels(rng, 8, 8, _RECT, 64, sample_rate)
  # All 64 pixels of an 8x8 image, each once.
  assert sorted(map(tuple, pixels.tolist())) == [(r, c) for r in range(8) for c in range(8)]


def test_errors():
  rng = np.random.default_rng(0)
  with pytest.raises(ValueError, match=r'face_rect \[0, 0, 2, 2\] .*covers 9 pixels .*19 inside'):
    ray_sampling.sample_ray_pixels(rng, 16, 16, np.array([0, 0, 2, 2]), 20, 0.95)
  with pytest.raises(ValueError, match=r'65 rays \(n_rand = 65, extra_outside_rate = 0.0\) exceed the 8x8'):
    ray_sampling.sample_ray_pixels(rng, 8, 8, _RECT, 65, 0.0)


def test_face_rect_must_have_four_values():
  with pytest.raises(AssertionError):
    ray_sampling.sample_ray_pixels(np.random.default_rng(0), 8, 8, np.array([1, 2, 3]), 4, 0.5)


# Mouth rectangle: x (column) 20, y (row) 14, w 9, h 5 -> rows 14..19 x cols 20..29 (60 pixels).
_LIPS = np.array([20, 14, 9, 5])


@pytest.mark.parametrize('transposed', [True, False])
def test_mouth_rays_come_first_and_the_rest_keep_their_counts(transposed):
  rng = np.random.default_rng(7)
  pixels = ray_sampling.sample_ray_pixels(rng, _H, _W, _RECT, 200, 0.9, transposed, _LIPS, 0.2)
  row, col = pixels[:, 0], pixels[:, 1]
  in_lips = (14 <= row) & (row <= 19) & (20 <= col) & (col <= 29)
  assert in_lips[:40].all()  # int(200 * 0.2) mouth rays
  inside = _inside(pixels, transposed)
  assert inside[40:180].all() and not inside[180:].any()  # 180 - 40 face rays, then 20 outside
  assert len({tuple(p) for p in pixels.tolist()}) == 200


def test_no_mouth_share_draws_the_authors_pixels():
  draw = lambda **kw: ray_sampling.sample_ray_pixels(np.random.default_rng(9), _H, _W, _RECT, 100,
                                                     0.95, **kw)
  np.testing.assert_array_equal(draw(), draw(lip_rect=_LIPS, lip_rate=0.0))


def test_mouth_share_errors():
  rng = np.random.default_rng(0)
  with pytest.raises(ValueError, match='lip_rate = 0.5 exceeds sample_rate = 0.3'):
    ray_sampling.sample_ray_pixels(rng, _H, _W, _RECT, 100, 0.3, lip_rect=_LIPS, lip_rate=0.5)
  with pytest.raises(ValueError, match="needs the frame's lip_rect"):
    ray_sampling.sample_ray_pixels(rng, _H, _W, _RECT, 100, 0.9, lip_rate=0.1)


def test_a_mouth_smaller_than_its_share_gives_all_its_pixels():
  # 80 mouth rays asked for, 60 pixels in the rectangle: all 60, then 30 face and 10 outside rays.
  rng = np.random.default_rng(11)
  pixels = ray_sampling.sample_ray_pixels(rng, _H, _W, _RECT, 100, 0.9, True, _LIPS, 0.8)
  row, col = pixels[:, 0], pixels[:, 1]
  in_lips = (14 <= row) & (row <= 19) & (20 <= col) & (col <= 29)
  assert in_lips[:60].all() and not in_lips[60:].any()
  inside = _inside(pixels, True)
  assert inside[60:90].all() and not inside[90:].any()
  assert len({tuple(p) for p in pixels.tolist()}) == 100


@pytest.mark.parametrize('transposed', [True, False])
def test_extra_outside_rays_add_to_the_outside_share_only(transposed):
  # 200 rays at 0.9 with a 0.2 mouth share: 40 mouth, 140 face, 20 outside; 0.1 adds 20 outside.
  rng = np.random.default_rng(5)
  pixels = ray_sampling.sample_ray_pixels(rng, _H, _W, _RECT, 200, 0.9, transposed, _LIPS, 0.2,
                                          extra_outside_rate=0.1)
  assert pixels.shape == (ray_sampling.ray_count(200, 0.1, 0.9), 2) == (220, 2)
  row, col = pixels[:, 0], pixels[:, 1]
  assert ((14 <= row[:40]) & (row[:40] <= 19) & (20 <= col[:40]) & (col[:40] <= 29)).all()
  inside = _inside(pixels, transposed)
  assert inside[40:180].all() and not inside[180:].any()  # 140 face rays, then 20 + 20 outside
  assert len({tuple(p) for p in pixels.tolist()}) == 220


def test_extra_outside_rays_leave_the_authors_pixels_and_stream_unchanged():
  def draw(**kw):
    rng = np.random.default_rng(9)
    pixels = ray_sampling.sample_ray_pixels(rng, _H, _W, _RECT, 100, 0.95, True, _LIPS, 0.2, **kw)
    return pixels, rng.integers(1 << 30, size=4)  # what the generator draws next

  authors, after = draw()
  extra, after_extra = draw(extra_outside_rate=0.1)
  assert extra.shape == (110, 2)
  np.testing.assert_array_equal(extra[:100], authors)
  np.testing.assert_array_equal(after_extra, after)
  assert not _inside(extra[100:], True).any()
  assert len({tuple(p) for p in extra.tolist()}) == 110
  np.testing.assert_array_equal(draw(extra_outside_rate=0.0)[0], authors)
  assert ray_sampling.ray_count(850, 0.05, 0.95) == 892
  assert ray_sampling.ray_count(256, 0.0, 0.95) == 256


def test_ray_count_rounds_the_extra_rays_up_to_a_multiple():
  assert ray_sampling.ray_count(850, 0.1, 0.95) == 935
  assert ray_sampling.ray_count(850, 0.1, 0.95, multiple=2) == 936
  assert ray_sampling.ray_count(850, 0.1, 0.95, multiple=8) == 936
  assert ray_sampling.ray_count(256, 0.1, 0.95, multiple=8) == 288
  assert ray_sampling.ray_count(256, 0.125, 0.95, multiple=8) == 288  # already a multiple
  # Without extra rays there is nothing to round with: N_rand stays as it is.
  assert ray_sampling.ray_count(850, 0.0, 0.95, multiple=4) == 850
  assert ray_sampling.ray_count(850, 0.1, 0.0, multiple=4) == 850
  pixels = ray_sampling.sample_ray_pixels(np.random.default_rng(4), _H, _W, _RECT, 100, 0.95, True,
                                          extra_outside_rate=0.05, ray_multiple=4)
  assert pixels.shape == (108, 2) and not _inside(pixels[95:], True).any()


def test_no_extra_rays_without_a_face_rectangle():
  # sample_rate 0: uniform over the image, nothing is "outside"; the same pixels as without extras.
  draw = lambda rate: ray_sampling.sample_ray_pixels(np.random.default_rng(2), _H, _W, _RECT, 100,
                                                     0.0, extra_outside_rate=rate)
  assert ray_sampling.ray_count(100, 0.1, 0.0) == 100
  np.testing.assert_array_equal(draw(0.1), draw(0.0))
  assert draw(0.1).shape == (100, 2)


def test_extra_outside_rays_errors():
  rng = np.random.default_rng(0)
  with pytest.raises(ValueError, match=r'66 rays \(n_rand = 60, extra_outside_rate = 0.1\) exceed '
                     'the 8x8 image'):
    ray_sampling.sample_ray_pixels(rng, 8, 8, _RECT, 60, 0.5, extra_outside_rate=0.1)
