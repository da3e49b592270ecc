"""Coarse-to-fine refinement of an occupancy grid: only the children of cells that may be occupied
are measured, the rest keep their parent's value; padding never reaches the grid."""

import itertools

import jax
import jax.numpy as jnp
import numpy as np

from dfrf_jax.render import occupancy
from tests.render.conftest import FAR, INTRINSICS, NEAR, SIZE

COARSE = 4
THRESHOLD = 0.5


def _fine_cell_density(aabb: np.ndarray, resolution: int):
  """A density constant on each cell of the fine grid (so the jitter inside a cell is irrelevant):
  a pseudo-random value of the cell index; rows at or past `num_valid` come back NaN."""
  lo, hi = aabb

  def density_fn(points, key, num_valid):
    del key
    cell = jnp.floor((points - lo) / (hi - lo) * resolution).astype(jnp.int32)
    value = ((cell[:, 0] * 7 + cell[:, 1] * 3 + cell[:, 2] * 5) % 11).astype(jnp.float32) / 10.0
    return jnp.where(jnp.arange(points.shape[0]) < num_valid, value, jnp.nan)

  return density_fn


def _expected(parent_density: np.ndarray) -> np.ndarray:
  """NumPy: children of cells within one cell of an occupied one are measured, others copy the parent."""
  g = parent_density.shape[0]
  occupied = parent_density > THRESHOLD
  fine = np.empty((2 * g,) * 3, np.float32)
  for i, j, k in itertools.product(range(2 * g), repeat=3):
    p = np.array([i, j, k]) // 2
    lo, hi = np.maximum(p - 1, 0), p + 2
    if occupied[lo[0]:hi[0], lo[1]:hi[1], lo[2]:hi[2]].any():
      fine[i, j, k] = ((i * 7 + j * 3 + k * 5) % 11) / 10.0
    else:
      fine[i, j, k] = parent_density[tuple(p)]
  return fine


def test_refinement_measures_the_children_of_candidates_only():
  aabb = np.array([[-1.0, 0.0, 0.5], [1.0, 2.0, 1.5]], np.float32)
  density = np.zeros((COARSE,) * 3, np.float32)
  density[0, 0, 0] = 3.0    # a corner cell: its candidates are the 2x2x2 block at the corner
  density[3, 2, 1] = 0.9
  density[1, 3, 3] = 0.2    # below the threshold: not a candidate by itself
  grid = occupancy.OccupancyGrid(density=jnp.asarray(density), aabb=jnp.asarray(aabb))
  refined = occupancy.refine_occupancy(grid, jax.random.key(0),
                                       _fine_cell_density(aabb, 2 * COARSE), threshold=THRESHOLD)
  assert refined.resolution == 2 * COARSE
  np.testing.assert_array_equal(refined.aabb, aabb)
  want = _expected(density)
  got = np.asarray(refined.density)
  assert not np.isnan(got).any()  # padding rows past num_valid were dropped
  np.testing.assert_allclose(got, want, rtol=1e-6)
  # The copied cells are exactly those outside the candidates' children.
  assert 0 < np.sum(got == 0.0) < got.size


def test_refining_an_empty_grid_measures_nothing():
  aabb = jnp.array([[0.0] * 3, [1.0] * 3])
  grid = occupancy.init_occupancy(aabb, COARSE, density=0.1)
  calls = []

  def density_fn(points, key, num_valid):
    calls.append(num_valid)
    return _fine_cell_density(np.asarray(aabb), 2 * COARSE)(points, key, num_valid)

  refined = occupancy.refine_occupancy(grid, jax.random.key(1), density_fn, threshold=THRESHOLD)
  assert int(calls[0]) == 0
  np.testing.assert_array_equal(refined.density, np.full((2 * COARSE,) * 3, 0.1, np.float32))


def test_refine_from_model_measures_max_density_at_the_candidates(scene):
  aabb = occupancy.frustum_aabb(scene.c2w[None], *INTRINSICS, SIZE, SIZE, NEAR, FAR)
  frames = jax.tree.map(lambda x: x[None], scene.frame)
  coarse = occupancy.update_from_model(occupancy.init_occupancy(aabb, COARSE), jax.random.key(2),
                                       scene.model, scene.params, frames, num_cells=None, decay=1.0,
                                       use_warp=True, point_chunk=64)
  threshold = float(np.quantile(np.asarray(coarse.density), 0.8))
  refined = occupancy.refine_from_model(coarse, jax.random.key(3), scene.model, scene.params,
                                        frames, threshold=threshold, use_warp=True, point_chunk=64)
  density_fn = lambda p, k, n: occupancy.max_density(scene.model, scene.params, frames, p, k,
                                                     use_warp=True, point_chunk=64, num_valid=n)
  want = occupancy.refine_occupancy(coarse, jax.random.key(3), density_fn, threshold=threshold)
  np.testing.assert_allclose(refined.density, want.density, rtol=1e-4, atol=1e-5)  # jit vs eager

  candidates = np.asarray(occupancy.occupancy_mask(coarse, threshold, 1).occupied)
  assert 0 < candidates.sum() < candidates.size
  children = np.repeat(np.repeat(np.repeat(candidates, 2, 0), 2, 1), 2, 2)
  parent_values = np.repeat(np.repeat(np.repeat(np.asarray(coarse.density), 2, 0), 2, 1), 2, 2)
  got = np.asarray(refined.density)
  np.testing.assert_array_equal(got[~children], parent_values[~children])
  assert np.all(got[children] >= 0.0) and not np.array_equal(got[children], parent_values[children])


def test_max_density_skips_chunks_of_padding(scene):
  rng = np.random.default_rng(4)
  frames = jax.tree.map(lambda x: x[None], scene.frame)
  points = jnp.asarray(rng.normal(scale=0.2, size=(300, 3)), jnp.float32)
  full = occupancy.max_density(scene.model, scene.params, frames, points, jax.random.key(0),
                               use_warp=True, point_chunk=100)
  part = occupancy.max_density(scene.model, scene.params, frames, points, jax.random.key(0),
                               use_warp=True, point_chunk=100, num_valid=jnp.int32(150))
  # Chunks 0 and 1 hold valid rows and are evaluated whole; chunk 2 holds padding only.
  np.testing.assert_allclose(part[:200], full[:200], rtol=1e-6)
  np.testing.assert_array_equal(part[200:], 0.0)
  assert float(jnp.max(full[200:])) > 0.0
