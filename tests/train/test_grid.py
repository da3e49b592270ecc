"""The training occupancy grid of the marching state: its box, its first fill and its update schedule."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from dfrf_jax.data.dataset import load_dataset
from dfrf_jax.model.dfrf import audio_code, build_model
from dfrf_jax.render import march_state as grid, occupancy
from dfrf_jax.render.rays import frame_inputs
from dfrf_jax.train import batches, state as state_lib
from tests.train.conftest import DATASET, accelerated_config

NEAR, FAR = 0.6, 1.2


@pytest.fixture(scope='module')
def setup():
  config = accelerated_config()
  model = build_model(config.model)
  return config, model, state_lib.fresh_params(model, jax.random.key(0)), load_dataset(DATASET)


def _frustum_corners(identity, near: float, far: float) -> np.ndarray:
  """[K * 8, 3] float64 corners of every training camera's near-far frustum."""
  cam = identity.intrinsics
  rows = np.array([0.0, 0.0, cam.height - 1.0, cam.height - 1.0])
  cols = np.array([0.0, cam.width - 1.0, 0.0, cam.width - 1.0])
  dirs = np.stack([(cols - cam.cx) / cam.focal, -(rows - cam.cy) / cam.focal, -np.ones(4)], -1)
  corners = []
  for pose in np.asarray(identity.train.poses, np.float64):
    for depth in (near, far):
      corners.append(dirs * depth @ pose[:, :3].T + pose[:, 3])
  return np.concatenate(corners)


def test_training_aabb_encloses_every_training_frustum(setup):
  _, _, _, identities = setup
  box = np.asarray(grid.training_aabb(identities, NEAR, FAR), np.float64)
  corners = np.concatenate([_frustum_corners(i, NEAR, FAR) for i in identities])
  lo, hi = corners.min(0), corners.max(0)
  assert np.all(box[0] < lo) and np.all(box[1] > hi)
  np.testing.assert_allclose(box, [lo - 0.01 * (hi - lo), hi + 0.01 * (hi - lo)], rtol=1e-5,
                             atol=1e-5)


def test_first_fill_stores_the_max_density_of_random_training_frames(setup):
  config, model, params, identities = setup
  key = jax.random.key(5)
  filled = grid.initial_grid(model, params, identities, config, NEAR, FAR,
                             np.random.default_rng(7), key, smoothing=False, use_warp=True)
  # The same conditions and the same point in every cell, evaluated directly.
  rng = np.random.default_rng(7)
  draws = [batches.draw_batch(rng, identities, config)
           for _ in range(config.render.accel.update_conditions)]
  frames = [frame_inputs(model, params, audio_code(model, params, b.aud, False), b.ref_images,
                         b.ref_poses, b.intrinsics[0]) for b in draws]
  frames = jax.tree.map(lambda *x: jnp.stack(x), *frames)
  g = config.render.accel.grid_resolution
  cells = np.stack(np.meshgrid(*[np.arange(g)] * 3, indexing='ij'), -1).reshape(-1, 3)
  jitter = jax.random.uniform(jax.random.split(key, 3)[1], cells.shape, jnp.float32)
  box = np.asarray(filled.aabb)
  points = box[0] + (cells + jitter) / g * (box[1] - box[0])
  want = occupancy.max_density(model, params, frames, points, jax.random.split(key, 3)[2],
                               use_warp=True, point_chunk=4096)
  np.testing.assert_allclose(np.asarray(filled.density).reshape(-1), want, rtol=1e-4, atol=1e-5)
  # Each measured point lies in its own cell: occupied exactly where its density passes a threshold
  # (the median, so that both kinds of cell are there).
  threshold = float(np.median(want))
  occupied = np.asarray(occupancy.occupied(occupancy.occupancy_mask(filled, threshold, 0),
                                           jnp.asarray(points)))
  assert 0 < occupied.sum() < len(occupied)
  np.testing.assert_array_equal(occupied, np.asarray(want) > threshold)


def test_updates_measure_every_cell_during_warmup_then_random_cells(setup):
  config, model, params, identities = setup
  t = config.train
  assert [grid.is_update_step(s, t) for s in range(5)] == [True, False, True, False, True]
  batch = batches.draw_batch(np.random.default_rng(1), identities, config)
  big = occupancy.init_occupancy(grid.training_aabb(identities, NEAR, FAR),
                                 config.render.accel.grid_resolution, 1e6)
  # A re-measured cell holds max(0.95 x 1e6, small density) = 0.95e6; the others keep 1e6.
  decayed = lambda g: np.isclose(np.asarray(g.density), t.grid_decay * 1e6)
  warm = grid.update_grid(big, model, params, batch, config, t.grid_warmup_steps, jax.random.key(2),
                          smoothing=False, use_warp=True)
  assert decayed(warm).all()
  later = grid.update_grid(big, model, params, batch, config, t.grid_warmup_steps + 2,
                           jax.random.key(2), smoothing=False, use_warp=True)
  changed = decayed(later)
  assert 1 <= changed.sum() <= t.grid_update_cells
  assert np.all(np.asarray(later.density)[~changed] == 1e6)


def test_bad_update_settings_name_the_field(setup):
  config, model, params, identities = setup
  config = config.copy_and_resolve_references()
  config.train.grid_update_every = 0
  with pytest.raises(ValueError, match='grid_update_every = 0'):
    grid.is_update_step(4, config.train)
