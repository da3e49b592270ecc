"""Gradients flow through the compacted samples, and with every cell occupied they are the dense ones."""

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from dfrf_jax.render import accelerated
from dfrf_jax.render.renderer import render_rays
from tests.render.conftest import FAR, NEAR, SIZE, all_occupied, march_scene


def test_all_occupied_gradients_match_the_dense_ones(scene):
  # Budgets of exactly the occupied samples, in one network call each (no lax.map to differentiate).
  rc = scene.render_config
  budget = accelerated.SampleBudget(coarse=(SIZE * SIZE * (rc.N_samples - 1),),
                                    fine=(SIZE * SIZE * (rc.N_samples + rc.N_importance - 1),))
  c = ml_collections.ConfigDict(rc.to_dict())
  c.accel.point_chunk = max(budget.fine)
  c.accel.interpolate_features = False  # exact: importance samples aggregated as the dense path does
  rc = ml_collections.FrozenConfigDict(c)
  state = all_occupied(scene, budget)
  target = jnp.full_like(scene.bg, 0.3)

  def loss(out):
    return jnp.mean((out.fine.rgb - target) ** 2) + jnp.mean((out.coarse.rgb - target) ** 2)

  def dense_loss(params):
    return loss(render_rays(scene.model, params, scene.frame, scene.rays_o, scene.rays_d, scene.bg,
                            NEAR, FAR, rc, None, False))

  def accel_loss(params):
    out, _ = march_scene(scene, params, rc, None, False, state)
    return loss(out)

  want = jax.jit(jax.grad(dense_loss))(scene.params)
  got = jax.jit(jax.grad(accel_loss))(scene.params)
  for module in ('coarse', 'fine', 'warp', 'slot_attention'):
    norm = sum(float(jnp.sum(g ** 2)) for g in jax.tree.leaves(got[module]))
    assert norm > 0.0, module
  for (path, g), w in zip(jax.tree_util.tree_leaves_with_path(got), jax.tree.leaves(want)):
    np.testing.assert_allclose(g, w, rtol=1e-3, atol=1e-3 * float(jnp.max(jnp.abs(w))) + 1e-9,
                               err_msg=jax.tree_util.keystr(path))
