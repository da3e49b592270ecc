"""The marching state through a checkpoint: saved as the grid item and the budget in `meta`, restored
by `for_training`; the dense sampler has none."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from dfrf_jax.render import accelerated, march_state, occupancy
from dfrf_jax.train import batches, checkpoints
from tests.train.conftest import accelerated_config, tiny_config


def _grid() -> occupancy.OccupancyGrid:
  density = np.random.default_rng(0).exponential(size=(4, 4, 4)).astype(np.float32)
  box = np.array([[-1.0, -2.0, -3.0], [1.0, 2.0, 3.0]], np.float32)
  return occupancy.init_occupancy(box, 4).replace(density=jnp.asarray(density))


def _saved(tmp_path, config, budget: accelerated.SampleBudget):
  """A checkpoint at step 3 holding `march_state.to_checkpoint` of a state with `budget`."""
  state = march_state.MarchState(
      grid=_grid(), mask=march_state.skip_mask(_grid(), config.render, train=True), budget=budget)
  extra, grid = march_state.to_checkpoint(state)
  mgr = checkpoints.manager(str(tmp_path / 'checkpoints'))
  checkpoints.save(mgr, 3, {'coarse': {'bias': np.zeros(2, np.float32)}}, config, extra, grid=grid)
  return mgr


def _restore(config, mgr):
  # Nothing is created when the checkpoint holds grid and budget: no model, params or identities.
  return march_state.for_training(None, None, [], config, 0.6, 1.2, 3, jax.random.key(0), mgr)


@pytest.mark.parametrize('selection', [False, True])
def test_checkpoint_round_trip_restores_grid_budget_and_mask(tmp_path, selection):
  config = accelerated_config()
  config.render.accel.train_selection = selection
  budget = accelerated.SampleBudget(coarse=(64,), fine=(128,), kept=(32, 48) if selection else ())
  restored = _restore(config, _saved(tmp_path, config, budget))
  assert restored.budget == budget
  np.testing.assert_array_equal(restored.grid.density, _grid().density)
  np.testing.assert_array_equal(restored.grid.aabb, _grid().aabb)
  want = march_state.skip_mask(_grid(), config.render, train=True)
  np.testing.assert_array_equal(restored.mask.occupied, want.occupied)


def test_switching_selection_on_after_a_save_adds_the_first_kept_budgets(tmp_path):
  config = accelerated_config()
  mgr = _saved(tmp_path, config, accelerated.SampleBudget(coarse=(64,), fine=(128,)))
  config.render.accel.train_selection = True
  restored = _restore(config, mgr)
  first = accelerated.initial_budget(batches.rays_per_step(config), config.render, train=True)
  assert restored.budget == accelerated.SampleBudget(coarse=(64,), fine=(128,), kept=first.kept)
  assert len(first.kept) == 2 and min(first.kept) > 0


def test_first_budgets_are_sized_for_the_extra_outside_rays(tmp_path):
  config = accelerated_config()
  config.data.extra_outside_rate = 0.5
  mgr = _saved(tmp_path, config, accelerated.SampleBudget(coarse=(64,), fine=(128,)))
  config.render.accel.train_selection = True
  restored = _restore(config, mgr)
  rays = config.data.N_rand + config.data.N_rand // 2
  assert restored.budget.kept == accelerated.initial_budget(rays, config.render, train=True).kept
  assert restored.budget.kept != accelerated.initial_budget(config.data.N_rand, config.render,
                                                            train=True).kept


def test_the_dense_sampler_has_no_state():
  config = tiny_config()
  assert march_state.for_training(None, None, [], config, 0.6, 1.2, 0, jax.random.key(0),
                                  None) is None
  assert march_state.to_checkpoint(None) == ({}, None)
  assert march_state.refit(None, None, config.render) is None
