"""While training, the occupancy threshold is capped at the grid's mean density, so a grid measured on
an early model (low density everywhere) still lets its denser cells through."""

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from dfrf_jax.render import accelerated, occupancy
from tests.render.conftest import coarse_occupied_count, grid_state, march_scene, slab_grid

RESOLUTION = 4


def _low_density_grid(scene) -> occupancy.OccupancyGrid:
  """Density 0.2 (below the 0.5 threshold) where the x index is below 2, 0 elsewhere: mean 0.1."""
  return slab_grid(scene, 2, 0.2, RESOLUTION)


def test_training_threshold_is_the_smaller_of_threshold_and_mean_density():
  density = np.random.default_rng(0).uniform(0.0, 0.4, (4, 4, 4)).astype(np.float32)
  grid = occupancy.init_occupancy(jnp.array([[0.0] * 3, [1.0] * 3]), 4).replace(
      density=jnp.asarray(density))
  np.testing.assert_allclose(occupancy.training_threshold(grid, 0.5), np.mean(density, dtype=np.float64),
                             rtol=1e-6)
  np.testing.assert_allclose(occupancy.training_threshold(grid, 0.05), 0.05)


def _coarse_evaluated(scene, grid, train: bool) -> tuple[int, int]:
  """(evaluated coarse samples, samples the NumPy count puts in cells above the mean density)."""
  config = ml_collections.ConfigDict(scene.render_config.to_dict())
  config.accel.dilation = 0
  config.perturb = False  # deterministic depths even in training mode
  config.raw_noise_std = 0.0
  config = ml_collections.FrozenConfigDict(config)
  budget = accelerated.SampleBudget(coarse=(512,), fine=(1024,))
  state = grid_state(grid, budget, config, train=train)
  _, stats = jax.jit(lambda p: march_scene(scene, p, config, None, train, state))(scene.params)
  assert int(stats.overflow) == 0

  expected = coarse_occupied_count(scene, grid, float(np.mean(np.asarray(grid.density))))
  return int(stats.coarse_evaluated), expected


def test_training_lets_cells_above_the_mean_through_rendering_does_not(scene):
  grid = _low_density_grid(scene)
  evaluated, expected = _coarse_evaluated(scene, grid, train=True)
  assert expected > 0
  assert evaluated == expected
  evaluated, _ = _coarse_evaluated(scene, grid, train=False)
  assert evaluated == 0  # the fixed 0.5 threshold: every cell is empty


def test_an_empty_grid_stays_empty_in_training(scene):
  grid = slab_grid(scene, 0, 0.2, RESOLUTION)
  evaluated, expected = _coarse_evaluated(scene, grid, train=True)
  assert evaluated == expected == 0
