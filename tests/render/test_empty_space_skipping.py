"""Empty-space skipping: empty rays never reach the networks, and compaction loses no occupied sample
unless the budget is too small, in which case the loss is counted."""

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from dfrf_jax.render import accelerated
from tests.render.conftest import SIZE, coarse_occupied_count, grid_state, march_scene, slab_grid


def _render(scene, grid, budget, params=None, dilation=0):
  """The accelerated march of the scene's rays through `skip_mask` of `grid` (threshold 0.5)."""
  params = scene.params if params is None else params
  config = ml_collections.ConfigDict(scene.render_config.to_dict())
  config.accel.dilation = dilation
  config = ml_collections.FrozenConfigDict(config)
  state = grid_state(grid, budget, config, train=False)
  return jax.jit(lambda p: march_scene(scene, p, config, None, False, state))(params)


def _grid(scene, occupied_x_cells):
  """Cells whose x index is below `occupied_x_cells` are occupied, the rest empty."""
  return slab_grid(scene, occupied_x_cells, 1e3)


def test_empty_grid_renders_the_background_without_the_networks(scene):
  # NaN parameters: any network output reaching a pixel would make it NaN.
  nan_params = jax.tree.map(lambda x: jnp.full_like(x, jnp.nan), scene.params)
  budget = accelerated.SampleBudget(coarse=(64,), fine=(64,))
  out, stats = _render(scene, _grid(scene, 0), budget, nan_params)
  # Only the authors' 1e-6 density floor separates the result from the background exactly.
  np.testing.assert_allclose(out.fine.rgb, scene.bg, atol=1e-5)
  np.testing.assert_allclose(out.coarse.rgb, scene.bg, atol=1e-5)
  np.testing.assert_allclose(out.fine.last_weight, 1.0, atol=1e-5)
  assert int(stats.coarse_evaluated) == int(stats.fine_evaluated) == 0
  assert int(stats.rays_skipped) == SIZE * SIZE and int(stats.overflow) == 0


def test_compaction_keeps_every_occupied_sample_and_counts_overflow(scene):
  grid = _grid(scene, 2)
  roomy = accelerated.SampleBudget(coarse=(2048,), fine=(4096,))
  ref, ref_stats = _render(scene, grid, roomy)
  count = coarse_occupied_count(scene, grid, 0.5)
  total = SIZE * SIZE * (scene.render_config.N_samples - 1)
  assert 0.2 * total < count < 0.8 * total
  assert int(ref_stats.coarse_requested[0]) == int(ref_stats.coarse_evaluated) == count
  assert int(ref_stats.coarse_capacity[0]) == total  # every sample but the background one
  r = scene.render_config
  assert int(ref_stats.fine_capacity[0]) == SIZE * SIZE * (r.N_samples + r.N_importance - 1)
  assert int(ref_stats.overflow) == 0 and 0 < int(ref_stats.rays_skipped) < SIZE * SIZE
  fine_count = int(ref_stats.fine_requested[0])

  # A budget of exactly the requested samples: same result, nothing lost.
  exact = accelerated.SampleBudget(coarse=(count,), fine=(fine_count,))
  out, stats = _render(scene, grid, exact)
  assert int(stats.overflow) == 0
  np.testing.assert_allclose(out.fine.rgb, ref.fine.rgb, rtol=1e-6, atol=1e-6)
  np.testing.assert_allclose(out.coarse.weights, ref.coarse.weights, rtol=1e-6, atol=1e-6)

  # Seven coarse samples short: reported, and the dropped samples change the picture.
  short = accelerated.SampleBudget(coarse=(count - 7,), fine=(fine_count + 64,))
  out, stats = _render(scene, grid, short)
  assert int(stats.coarse_evaluated) == count - 7
  assert int(stats.overflow) == 7 + max(0, int(stats.fine_requested[0]) - fine_count - 64)
  assert float(jnp.max(jnp.abs(out.coarse.weights - ref.coarse.weights))) > 1e-6


def test_dilation_marks_the_neighbouring_cells_occupied(scene):
  roomy = accelerated.SampleBudget(coarse=(2048,), fine=(4096,))
  _, dilated = _render(scene, _grid(scene, 2), roomy, dilation=1)
  _, wider = _render(scene, _grid(scene, 3), roomy)
  assert int(dilated.coarse_requested[0]) == int(wider.coarse_requested[0]) == coarse_occupied_count(
      scene, _grid(scene, 3), 0.5)
