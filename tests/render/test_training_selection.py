"""Training's sample selection: differentiating only the selected samples leaves the outputs unchanged
and the gradients equal to those of every sample, within 1e-4 relative to each module's gradient."""

import jax
import jax.numpy as jnp
import numpy as np

from dfrf_jax.render import accelerated
from tests.render.conftest import SIZE, all_occupied, make_scene, march_scene, tiny_config

# Relative error ||g_selected - g_all|| / ||g_all|| allowed per module. The samples left out have
# zero raw density (no gradient through the relu, weight of the 1e-6 floor only) or lie behind
# transmittance 1e-4 (their weights, hence their shares of the gradient, are below 1e-4).
TOLERANCE = 1e-4


def test_selected_gradients_match_the_gradients_of_every_sample():
  scene = make_scene(tiny_config())  # reuse_coarse_features on, as configured by default
  rc = scene.render_config
  num_rays = SIZE * SIZE
  every = accelerated.SampleBudget(coarse=(num_rays * (rc.N_samples - 1),),
                                   fine=(num_rays * (rc.N_samples + rc.N_importance - 1),))
  selected = every._replace(kept=(every.coarse[0], every.fine[0]))
  target = jnp.full_like(scene.bg, 0.3)
  key = jax.random.PRNGKey(5)

  def loss(params, budget):
    out, stats = march_scene(scene, params, rc, key, True, all_occupied(scene, budget))
    mse = jnp.mean((out.fine.rgb - target) ** 2) + jnp.mean((out.coarse.rgb - target) ** 2)
    return mse, (out, stats)

  grad = lambda budget: jax.jit(jax.grad(lambda p: loss(p, budget), has_aux=True))(scene.params)
  want, (out_all, stats_all) = grad(every)
  got, (out_selected, stats) = grad(selected)
  # The same values: only gradients are restricted to the selected samples.
  np.testing.assert_array_equal(out_selected.fine.rgb, out_all.fine.rgb)
  np.testing.assert_array_equal(out_selected.coarse.rgb, out_all.coarse.rgb)
  assert stats_all.kept_requested is None and int(stats.overflow) == 0
  # Selection left out a good share of the fine pass's evaluated samples (opaque rays).
  kept = np.asarray(stats.kept_requested)
  assert kept[1] < 0.5 * int(stats.fine_evaluated)
  assert int(stats.kept_evaluated) == kept.sum()
  for module in ('coarse', 'fine', 'slot_attention', 'warp'):
    g = np.concatenate([np.ravel(x) for x in jax.tree.leaves(got[module])])
    w = np.concatenate([np.ravel(x) for x in jax.tree.leaves(want[module])])
    assert np.linalg.norm(w) > 0.0, module
    assert np.linalg.norm(g - w) <= TOLERANCE * np.linalg.norm(w), module
