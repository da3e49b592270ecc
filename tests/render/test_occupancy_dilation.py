"""Grid dilation: a max filter over neighbouring cells, against a NumPy loop."""

import itertools

import jax.numpy as jnp
import numpy as np
import pytest

from dfrf_jax.render import occupancy


def _numpy_dilate(density: np.ndarray, cells: int) -> np.ndarray:
  g = density.shape[0]
  out = np.empty_like(density)
  for i, j, k in itertools.product(range(g), repeat=3):
    lo = [max(0, x - cells) for x in (i, j, k)]
    out[i, j, k] = density[lo[0]:i + cells + 1, lo[1]:j + cells + 1, lo[2]:k + cells + 1].max()
  return out


@pytest.mark.parametrize('cells', [1, 2])
def test_dilate_is_a_max_filter(cells):
  density = np.random.default_rng(cells).exponential(size=(6, 6, 6)).astype(np.float32)
  grid = occupancy.OccupancyGrid(density=jnp.asarray(density), aabb=jnp.zeros((2, 3)))
  np.testing.assert_array_equal(np.asarray(occupancy.dilate(grid, cells).density),
                                _numpy_dilate(density, cells))


def test_dilate_zero_is_identity_and_negative_is_refused():
  grid = occupancy.init_occupancy(jnp.array([[0.0] * 3, [1.0] * 3]), 3, density=2.0)
  assert occupancy.dilate(grid, 0) is grid
  with pytest.raises(ValueError, match='cells must be >= 0'):
    occupancy.dilate(grid, -1)
