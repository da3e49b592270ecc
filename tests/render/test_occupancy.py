"""Occupancy grid: its box, its mask and cell lookup, the EMA update rule and the max over conditions."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from dfrf_jax.model.dfrf import DFRF
from dfrf_jax.render import cameras
from dfrf_jax.render import occupancy
from dfrf_jax.render.renderer import frame_inputs
from tests.render.conftest import FAR, INTRINSICS, NEAR, SIZE


def test_frustum_aabb_encloses_the_corner_rays_with_the_margin():
  rng = np.random.default_rng(0)
  poses = np.tile(np.eye(4, dtype=np.float32)[:3], (3, 1, 1))
  poses[:, :, 3] = rng.normal(size=(3, 3))
  poses[2, :, :3] = [[0.0, 0.0, 1.0], [0.0, 1.0, 0.0], [-1.0, 0.0, 0.0]]  # a rotated camera
  corners = np.array([[0, 0], [0, SIZE - 1], [SIZE - 1, 0], [SIZE - 1, SIZE - 1]], np.float32)
  points = []
  for c2w in poses:
    o, d = cameras.pixel_rays(corners, c2w, *INTRINSICS)
    points += [np.asarray(o + t * d) for t in (NEAR, FAR)]
  points = np.concatenate(points).astype(np.float64)
  lo, hi = points.min(0), points.max(0)
  got = occupancy.frustum_aabb(jnp.asarray(poses), *INTRINSICS, SIZE, SIZE, NEAR, FAR, margin=0.1)
  np.testing.assert_allclose(got, [lo - 0.1 * (hi - lo), hi + 0.1 * (hi - lo)], rtol=1e-5, atol=1e-6)


def test_occupied_looks_up_the_cell_and_treats_outside_as_empty():
  rng = np.random.default_rng(1)
  aabb = np.array([[-1.0, -0.5, 0.0], [1.0, 0.5, 2.0]], np.float32)
  grid = occupancy.init_occupancy(jnp.asarray(aabb), 4)
  density = rng.uniform(size=(4, 4, 4)).astype(np.float32)
  grid = grid.replace(density=jnp.asarray(density))
  points = rng.uniform(aabb[0] - 0.3, aabb[1] + 0.3, size=(500, 3)).astype(np.float32)
  cell = np.floor((points.astype(np.float64) - aabb[0]) / (aabb[1] - aabb[0]) * 4).astype(int)
  inside = np.all((cell >= 0) & (cell < 4), -1)
  cell = np.clip(cell, 0, 3)
  want = inside & (density[cell[:, 0], cell[:, 1], cell[:, 2]] > 0.5)
  assert 50 < want.sum() < 450 and (~inside).sum() > 50
  mask = occupancy.occupancy_mask(grid, 0.5, 0)
  np.testing.assert_array_equal(mask.occupied, density > 0.5)
  np.testing.assert_array_equal(occupancy.occupied(mask, jnp.asarray(points)), want)
  np.testing.assert_array_equal(
      occupancy.occupied(mask, jnp.asarray(points.reshape(20, 25, 3))), want.reshape(20, 25))
  assert float(occupancy.occupied_fraction(grid, 0.5)) == pytest.approx(np.mean(density > 0.5))


def _cell_index_density(aabb, resolution):
  """A density that is constant on each cell: its x index (so the jitter inside a cell is irrelevant)."""
  def density_fn(points, key, num_valid):
    del key, num_valid
    return jnp.floor((points[:, 0] - aabb[0, 0]) / (aabb[1, 0] - aabb[0, 0]) * resolution)
  return density_fn


def test_full_update_is_max_of_decayed_value_and_measurement():
  aabb = jnp.array([[0.0, 0.0, 0.0], [1.0, 1.0, 1.0]])
  grid = occupancy.init_occupancy(aabb, 4, density=2.0)
  new = occupancy.update_occupancy(grid, jax.random.PRNGKey(0), _cell_index_density(aabb, 4),
                                   num_cells=None, decay=0.5)
  x_index = np.arange(4, dtype=np.float32)[:, None, None]
  np.testing.assert_array_equal(new.density, np.broadcast_to(np.maximum(1.0, x_index), (4, 4, 4)))
  np.testing.assert_array_equal(new.aabb, aabb)


def test_partial_update_touches_only_the_drawn_cells_once():
  aabb = jnp.array([[0.0, 0.0, 0.0], [1.0, 1.0, 1.0]])
  grid = occupancy.init_occupancy(aabb, 8, density=4.0)
  new = occupancy.update_occupancy(grid, jax.random.PRNGKey(3), _cell_index_density(aabb, 8),
                                   num_cells=40, decay=0.5)
  new = np.asarray(new.density)
  x_index = np.broadcast_to(np.arange(8, dtype=np.float32)[:, None, None], (8, 8, 8))
  changed = new != 4.0
  assert 0 < changed.sum() <= 40
  # A cell drawn twice is decayed once: 0.5 * 4 = 2, never 1.
  np.testing.assert_array_equal(new[changed], np.maximum(2.0, x_index[changed]))


def test_update_rejects_a_bad_decay():
  grid = occupancy.init_occupancy(jnp.array([[0.0] * 3, [1.0] * 3]), 2)
  with pytest.raises(ValueError, match='decay'):
    occupancy.update_occupancy(grid, jax.random.PRNGKey(0), lambda p, k, n: p[:, 0], num_cells=None,
                               decay=1.5)


def test_max_density_is_the_max_over_conditions_and_fields(scene):
  rng = np.random.default_rng(2)
  codes = rng.normal(size=(2, scene.model.config.dim_aud)).astype(np.float32)
  frames = [scene.frame, frame_inputs(scene.model, scene.params, jnp.asarray(codes[1]),
                                      rng.uniform(size=(4, 16, 16, 3)).astype(np.float32),
                                      scene.frame.ref_poses, 20.0)]
  stacked = jax.tree.map(lambda *x: jnp.stack(x), *frames)
  points = jnp.asarray(rng.normal(scale=0.2, size=(300, 3)), jnp.float32)
  got = occupancy.max_density(scene.model, scene.params, stacked, points, jax.random.PRNGKey(0),
                              use_warp=True, point_chunk=128)
  viewdirs = jnp.broadcast_to(jnp.array([0.0, 0.0, -1.0]), points.shape)
  want = np.zeros(300, np.float32)
  for f in frames:
    for fine in (False, True):
      out = scene.model.apply({'params': scene.params}, points, viewdirs, f.audio_code,
                              f.ref_features, f.ref_poses, f.focal, None, fine, True,
                              method=DFRF.query)
      want = np.maximum(want, np.maximum(np.asarray(out.raw[:, 3]), 0.0))
  assert (want > 0).sum() > 10
  np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
