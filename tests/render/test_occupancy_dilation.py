"""Mask dilation: an `or` over neighbouring cells, against a NumPy loop; the mask of a grid."""

import itertools

import jax.numpy as jnp
import numpy as np
import pytest

from dfrf_jax.render import occupancy


def _numpy_dilate(occupied: np.ndarray, cells: int) -> np.ndarray:
  g = occupied.shape[0]
  out = np.empty_like(occupied)
  for i, j, k in itertools.product(range(g), repeat=3):
    lo = [max(0, x - cells) for x in (i, j, k)]
    out[i, j, k] = occupied[lo[0]:i + cells + 1, lo[1]:j + cells + 1, lo[2]:k + cells + 1].any()
  return out


@pytest.mark.parametrize('cells', [1, 2])
def test_dilate_is_a_box_filter(cells):
  occupied = np.random.default_rng(cells).uniform(size=(7, 7, 7)) > 0.93
  assert 5 < occupied.sum() < 50
  got = np.asarray(occupancy.dilate(jnp.asarray(occupied), cells))
  assert got.dtype == bool
  np.testing.assert_array_equal(got, _numpy_dilate(occupied, cells))


def test_dilate_zero_is_identity_and_negative_is_refused():
  occupied = jnp.asarray(np.random.default_rng(0).uniform(size=(3, 3, 3)) > 0.5)
  assert occupancy.dilate(occupied, 0) is occupied
  with pytest.raises(ValueError, match='cells must be >= 0'):
    occupancy.dilate(occupied, -1)


def test_mask_is_the_dilated_threshold_of_the_grid():
  density = np.random.default_rng(3).exponential(size=(6, 6, 6)).astype(np.float32)
  aabb = jnp.array([[0.0] * 3, [1.0] * 3])
  grid = occupancy.OccupancyGrid(density=jnp.asarray(density), aabb=aabb)
  mask = occupancy.occupancy_mask(grid, 3.0, 1)
  assert 0 < (density > 3.0).sum() < 20
  np.testing.assert_array_equal(mask.occupied, _numpy_dilate(density > 3.0, 1))
  np.testing.assert_array_equal(mask.aabb, aabb)
  assert mask.resolution == 6
